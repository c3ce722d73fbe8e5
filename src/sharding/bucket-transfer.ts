import type { Kysely, SelectQueryBuilder, Transaction } from 'kysely'
import type { MetadataDb } from '../metadata/db.js'

/**
 * The data side of a bucket move, on raw shard databases: walk a bucket's ids, copy image rows
 * with their variants, replay logged changes, clean up (the comparison is in bucket-digest.ts).
 * Every operation is idempotent (it replaces whole images), so a mover resumed after a crash may
 * repeat any of them.
 */
type Db = Kysely<MetadataDb>

/** Rows per INSERT: SQLite caps bound parameters (32766), and variants have 9 columns. */
const INSERT_ROWS = 200

/** The next `limit` image ids of a bucket after `after`, in id order. */
export async function nextIds(
  db: Db,
  bucket: number,
  after: string | null,
  limit: number,
): Promise<string[]> {
  const rows = await idsAfter(db.selectFrom('images').select('id'), bucket, after, limit).execute()
  return rows.map((r) => r.id)
}

/** A query on `images` narrowed to a bucket's next `limit` rows after `after`, in id order. */
export function idsAfter<Q extends SelectQueryBuilder<MetadataDb, 'images', object>>(
  query: Q,
  bucket: number,
  after: string | null,
  limit: number,
): Q {
  let narrowed = query.where('bucket', '=', bucket)
  if (after !== null) narrowed = narrowed.where('id', '>', after)
  return narrowed.orderBy('id').limit(limit) as Q
}

/**
 * Makes the target hold exactly what the source holds now for these images: rows that exist are
 * replaced, rows the source no longer has are deleted (a delete replayed, never resurrected).
 */
export async function replaceImages(source: Db, target: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return
  const [images, variants] = await Promise.all([
    source.selectFrom('images').selectAll().where('id', 'in', ids).execute(),
    source.selectFrom('variants').selectAll().where('image_id', 'in', ids).execute(),
  ])
  await target.transaction().execute(async (trx) => {
    await trx.deleteFrom('variants').where('image_id', 'in', ids).execute()
    await trx.deleteFrom('images').where('id', 'in', ids).execute()
    await insertChunked(trx, 'images', images)
    await insertChunked(trx, 'variants', variants)
  })
}

/**
 * Replays up to `limit` logged changes of a bucket onto the target, then forgets them. Log rows
 * are deleted by seq rather than tracked by a high-water mark: on PostgreSQL a lower seq can
 * commit after a higher one, and a mark would skip it. Returns how many log rows were applied.
 */
export async function applyChanges(
  source: Db,
  target: Db,
  bucket: number,
  limit: number,
  /** Collects the ids of the images replayed. */
  replayed?: Set<string>,
): Promise<number> {
  const rows = await source
    .selectFrom('bucket_changes')
    .select(['seq', 'image_id'])
    .where('bucket', '=', bucket)
    .orderBy('seq')
    .limit(limit)
    .execute()
  if (rows.length === 0) return 0
  const ids = [...new Set(rows.map((r) => r.image_id))]
  await replaceImages(source, target, ids)
  for (const id of ids) replayed?.add(id)
  await source
    .deleteFrom('bucket_changes')
    .where(
      'seq',
      'in',
      rows.map((r) => r.seq),
    )
    .execute()
  return rows.length
}

/** Deletes a bucket's rows (and its change log) from a shard in chunks; returns how many images went. */
export async function deleteBucketRows(db: Db, bucket: number, chunk = 500): Promise<number> {
  let deleted = 0
  for (;;) {
    const ids = await nextIds(db, bucket, null, chunk)
    if (ids.length === 0) break
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('variants').where('image_id', 'in', ids).execute()
      await trx.deleteFrom('images').where('id', 'in', ids).execute()
    })
    deleted += ids.length
  }
  await db.deleteFrom('bucket_changes').where('bucket', '=', bucket).execute()
  return deleted
}

async function insertChunked<T extends 'images' | 'variants'>(
  trx: Transaction<MetadataDb>,
  table: T,
  rows: readonly object[],
): Promise<void> {
  for (let at = 0; at < rows.length; at += INSERT_ROWS) {
    await trx
      .insertInto(table)
      .values(rows.slice(at, at + INSERT_ROWS) as never)
      .execute()
  }
}
