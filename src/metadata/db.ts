import type { Generated } from 'kysely'
import type { Image, Variant } from '../domain/image.js'

/** Table shapes of one metadata shard. Times are epoch milliseconds. */

/** A model's fields under their column names, with the model's types. */
export type Columns<Model, Names extends Record<keyof Model, string>> = {
  [Field in keyof Model as Names[Field]]: Model[Field]
}

/**
 * The image fields kept one-to-one in a column; `failure`, `placeholder` and `focalPoint` take two
 * columns each, variants a table.
 */
export type StoredImage = Omit<Image, 'failure' | 'placeholder' | 'variants' | 'focalPoint'>

/**
 * Field → column. Checked to name every stored field, so a field added to the image schema does
 * not compile until it has a column (and a migration).
 */
export const IMAGE_COLUMNS = {
  id: 'id',
  ownerId: 'owner_id',
  bucket: 'bucket',
  visibility: 'visibility',
  status: 'status',
  format: 'format',
  width: 'width',
  height: 'height',
  frames: 'frames',
  bytes: 'bytes',
  sha256: 'sha256',
  dominantColor: 'dominant_color',
  attempts: 'attempts',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} as const satisfies Record<keyof StoredImage, string>

export const VARIANT_COLUMNS = {
  name: 'name',
  format: 'format',
  width: 'width',
  height: 'height',
  bytes: 'bytes',
  etag: 'etag',
  key: 'object_key',
  version: 'version',
} as const satisfies Record<keyof Variant, string>

export interface ImagesTable extends Columns<StoredImage, typeof IMAGE_COLUMNS> {
  idempotency_key: string | null
  failure_code: string | null
  failure_detail: string | null
  placeholder: string | null
  /** `thumbhash` or `blurhash` (0008); null on rows written before it: see shard-rows.ts. */
  placeholder_type: string | null
  /** The focal point (0009); both null or both set. */
  focal_x: number | null
  focal_y: number | null
}

export interface VariantsTable extends Columns<Variant, typeof VARIANT_COLUMNS> {
  image_id: string
  bucket: number
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

/** Bookkeeping columns no model carries: the reconciler's requeue count (0006-reconcile). */
export interface ReconcileColumns {
  requeues: Generated<number>
}

/** The event outbox (0007-events): what the live stream and webhooks read, see shard-events.ts. */
export interface EventsTable {
  seq: Generated<number>
  bucket: number
  owner_id: string
  image_id: string
  type: string
  /** The event's data as JSON. */
  data: string
  created_at: number
}

export interface MetadataDb {
  images: ImagesTable & ReconcileColumns
  variants: VariantsTable
  outbox: OutboxTable
  shard_meta: ShardMetaTable
  bucket_ownership: BucketOwnershipTable
  bucket_changes: BucketChangesTable
  events: EventsTable
}
