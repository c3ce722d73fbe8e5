import type { Kysely, Transaction } from 'kysely'
import { dialectOf } from '../db/database.js'
import type { BucketState, MetadataDb } from './db.js'

/** States in which a shard answers reads of a bucket. */
export const READABLE: BucketState[] = ['owned', 'capturing', 'fenced']
const WRITABLE: readonly BucketState[] = ['owned', 'capturing']

/**
 * A shard was asked for a bucket it does not serve (any more, or not yet, or not for writing
 * while fenced). Not an AppError: the router catches it, refreshes its directory and retries.
 */
export class BucketNotServed extends Error {
  constructor(
    readonly bucket: number,
    readonly state: BucketState | null,
  ) {
    super(`Bucket ${bucket} is ${state ?? 'not on this shard'}`)
  }
}

type Db = Kysely<MetadataDb> | Transaction<MetadataDb>

/**
 * First statement of every write transaction. It locks the bucket's ownership row, so a fence
 * waits for writes in flight and every later write sees the fence. PostgreSQL: a shared row lock
 * (writers of one bucket don't queue behind each other). SQLite: a no-op update that takes the
 * file's write lock, so the state read is the latest. Returns true when the change must be logged.
 */
export async function claimForWrite(
  trx: Transaction<MetadataDb>,
  bucket: number,
): Promise<boolean> {
  const state =
    dialectOf(trx) === 'postgres' ? await lockShared(trx, bucket) : await lockExclusive(trx, bucket)
  if (!state || !WRITABLE.includes(state)) throw new BucketNotServed(bucket, state)
  return state === 'capturing'
}

/**
 * Checked after a read: if the bucket is still served here, nothing was switched away before the
 * read either (a bucket only leaves a shard after it was fenced and copied), so the rows read were
 * the current ones.
 */
export async function assertReadable(db: Db, bucket: number): Promise<void> {
  assertServesReads(bucket, await stateOf(db, bucket))
}

/** The check of assertReadable on a state the caller read itself (in the same statement as its rows). */
export function assertServesReads(bucket: number, state: BucketState | null): void {
  if (!state || !READABLE.includes(state)) throw new BucketNotServed(bucket, state)
}

export async function readableBuckets(db: Db): Promise<number[]> {
  const rows = await db
    .selectFrom('bucket_ownership')
    .select('bucket')
    .where('state', 'in', READABLE)
    .execute()
  return rows.map((r) => Number(r.bucket))
}

/** Logs a changed image id of a bucket being copied away. */
export async function logChange(
  trx: Transaction<MetadataDb>,
  bucket: number,
  imageId: string,
): Promise<void> {
  await trx.insertInto('bucket_changes').values({ bucket, image_id: imageId }).execute()
}

export async function stateOf(db: Db, bucket: number): Promise<BucketState | null> {
  const row = await db
    .selectFrom('bucket_ownership')
    .select('state')
    .where('bucket', '=', bucket)
    .executeTakeFirst()
  return row?.state ?? null
}

/** Sets (or with null removes) a bucket's state. Idempotent, so a resumed mover may repeat it. */
export async function setState(db: Db, bucket: number, state: BucketState | null): Promise<void> {
  if (state === null) {
    await db.deleteFrom('bucket_ownership').where('bucket', '=', bucket).execute()
    return
  }
  await db
    .insertInto('bucket_ownership')
    .values({ bucket, state })
    .onConflict((oc) => oc.column('bucket').doUpdateSet({ state }))
    .execute()
}

/** Seeds the buckets a shard serves when the directory is first created. Leaves existing rows alone. */
export async function seedOwnership(
  db: Kysely<MetadataDb>,
  buckets: readonly number[],
): Promise<void> {
  for (let at = 0; at < buckets.length; at += 500) {
    const rows = buckets.slice(at, at + 500).map((bucket) => ({ bucket, state: 'owned' as const }))
    await db
      .insertInto('bucket_ownership')
      .values(rows)
      .onConflict((oc) => oc.column('bucket').doNothing())
      .execute()
  }
}

async function lockShared(
  trx: Transaction<MetadataDb>,
  bucket: number,
): Promise<BucketState | null> {
  const row = await trx
    .selectFrom('bucket_ownership')
    .select('state')
    .where('bucket', '=', bucket)
    .forShare()
    .executeTakeFirst()
  return row?.state ?? null
}

async function lockExclusive(
  trx: Transaction<MetadataDb>,
  bucket: number,
): Promise<BucketState | null> {
  const row = await trx
    .updateTable('bucket_ownership')
    .set((eb) => ({ state: eb.ref('state') }))
    .where('bucket', '=', bucket)
    .returning('state')
    .executeTakeFirst()
  return row?.state ?? null
}
