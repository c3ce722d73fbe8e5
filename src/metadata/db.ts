import type { Generated } from 'kysely'

/** Table shapes of one metadata shard. Times are epoch milliseconds. */
export type ImageStatus = 'queued' | 'processing' | 'ready' | 'failed'

export interface ImagesTable {
  id: string
  owner_id: string
  bucket: number
  visibility: 'public' | 'private'
  status: ImageStatus
  format: string
  width: number
  height: number
  frames: number
  bytes: number
  sha256: string
  idempotency_key: string | null
  placeholder: string | null
  failure_code: string | null
  failure_detail: string | null
  /** How many times a worker started on this image: >1 means a retry or a redelivery. */
  attempts: number
  created_at: number
  updated_at: number
}

export interface VariantsTable {
  image_id: string
  bucket: number
  name: string
  format: string
  width: number
  height: number
  bytes: number
  etag: string
  object_key: string
}

/** Jobs committed with their image row; the relay moves them to the queue (transactional outbox). */
export interface OutboxTable {
  seq: Generated<number>
  job_id: string
  bucket: number
  payload: string
  created_at: number
}

export interface ShardMetaTable {
  key: string
  value: string
}

export interface MetadataDb {
  images: ImagesTable
  variants: VariantsTable
  outbox: OutboxTable
  shard_meta: ShardMetaTable
}
