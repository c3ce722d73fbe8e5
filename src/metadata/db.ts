import type { Generated } from 'kysely'
import type { InputFormat, OutputFormat } from '../domain/formats.js'
import type { ImageStatus, Visibility } from '../domain/image.js'

/** Table shapes of one metadata shard. Times are epoch milliseconds. */

export interface ImagesTable {
  id: string
  owner_id: string
  bucket: number
  visibility: Visibility
  status: ImageStatus
  format: InputFormat
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
  format: OutputFormat
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

/**
 * What this shard does with a bucket. `owned`: serves it. `capturing`: serves it and logs every
 * changed image id, because the bucket is being copied away. `fenced`: serves reads, refuses
 * writes, for the moment of the switch. `incoming`: being copied in, serves nothing yet. No row:
 * not this shard's bucket.
 */
export type BucketState = 'owned' | 'capturing' | 'fenced' | 'incoming'

export interface BucketOwnershipTable {
  bucket: number
  state: BucketState
}

export interface BucketChangesTable {
  seq: Generated<number>
  bucket: number
  image_id: string
}

export interface MetadataDb {
  images: ImagesTable
  variants: VariantsTable
  outbox: OutboxTable
  shard_meta: ShardMetaTable
  bucket_ownership: BucketOwnershipTable
  bucket_changes: BucketChangesTable
}
