/**
 * Seeding: multi-row inserts into each shard's tables, by bucket. On PostgreSQL one INSERT …
 * SELECT FROM unnest(arrays) per batch; on SQLite plain multi-row VALUES (its statements take at
 * most 32,766 parameters, hence the smaller batches).
 */
import { createHash } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import { newImageId } from '../../src/domain/ids.js'
import type { MetadataDb } from '../../src/metadata/db.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { ownerName, VARIANT_SHAPES } from './metadata.js'

export type Engine = 'postgres' | 'sqlite'

const SEED_BATCH: Record<Engine, number> = { postgres: 5_000, sqlite: 1_000 }

interface Seeded {
  /** Inserts, then VACUUM (ANALYZE) of the shards. */
  seconds: number
  vacuumSeconds: number
  sample: string[]
  perShard: Map<number, number>
}

/**
 * `images` rows, image k belonging to owner k mod `owners`, created 1 ms apart (ids sort by
 * time), status ready with `variants` variant rows each. Each row goes to the shard the directory
 * names for its owner's bucket. Keeps every (images / sampleSize)-th id as the sample.
 */
export async function seed(
  metadata: ShardedMetadata,
  images: number,
  owners: number,
  variants: number,
  sampleSize: number,
  label: string,
  engine: Engine = 'postgres',
): Promise<Seeded> {
  const started = performance.now()
  const directory = metadata.directory()
  const bucketOfOwner = Int32Array.from({ length: owners }, (_, n) =>
    metadata.bucketOfOwner(ownerName(n)),
  )
  const dbs = new Map<number, Kysely<MetadataDb>>()
  for (const id of directory.shards.keys()) dbs.set(id, (await metadata.shard(id)).db)
  type Batch = {
    ids: string[]
    owners: string[]
    buckets: number[]
    bytes: number[]
    created: number[]
  }
  const empty = (): Batch => ({ ids: [], owners: [], buckets: [], bytes: [], created: [] })
  const batches = new Map([...dbs.keys()].map((id) => [id, empty()]))
  const perShard = new Map([...dbs.keys()].map((id) => [id, 0]))
  const variantRows = sql.join(
    VARIANT_SHAPES.slice(0, variants).map(
      (v) => sql`(${v.name}, ${v.format}, ${v.width}::int, ${v.height}::int, ${v.bytes}::bigint)`,
    ),
  )

  async function flush(shard: number, batch: Batch): Promise<void> {
    const db = dbs.get(shard)!
    if (engine === 'sqlite') return flushSqlite(db, batch, variants)
    await sql`
      INSERT INTO images (id, owner_id, bucket, visibility, status, format, width, height, frames, bytes, sha256,
                          idempotency_key, placeholder, failure_code, failure_detail, attempts, created_at, updated_at)
      SELECT t.id, t.owner_id, t.bucket, 'public', 'ready', 'jpeg', 4000, 3000, 1, t.bytes, md5(t.id) || md5(t.owner_id),
             NULL, '1QcSHQRnh493V4dIh4eXh1h4kJUI', NULL, NULL, 1, t.created_at, t.created_at
      FROM unnest(${batch.ids}::text[], ${batch.owners}::text[], ${batch.buckets}::int[], ${batch.bytes}::bigint[], ${batch.created}::bigint[])
        AS t(id, owner_id, bucket, bytes, created_at)`.execute(db)
    if (variants === 0) return
    await sql`
      INSERT INTO variants (image_id, bucket, name, format, width, height, bytes, etag, object_key)
      SELECT t.id, t.bucket, v.name, v.format, v.width, v.height, v.bytes, '"' || substr(md5(t.id || v.name || v.format), 1, 16) || '"',
             'images/' || t.id || '/' || v.name || '.' || v.format
      FROM unnest(${batch.ids}::text[], ${batch.buckets}::int[]) AS t(id, bucket)
      CROSS JOIN (VALUES ${variantRows}) AS v(name, format, width, height, bytes)`.execute(db)
  }

  // Two batches in flight: Node builds the next one while PostgreSQL inserts.
  const inFlight = new Set<Promise<void>>()
  let failure: unknown = null
  const launch = (shard: number, batch: Batch) => {
    const running: Promise<void> = flush(shard, batch)
      .catch((error: unknown) => void (failure ??= error))
      .finally(() => inFlight.delete(running))
    inFlight.add(running)
  }
  const room = async () => {
    while (inFlight.size >= 2) await Promise.race(inFlight)
    if (failure) throw failure
  }

  const sample: string[] = []
  const step = sampleSize > 0 ? Math.max(1, Math.floor(images / sampleSize)) : Infinity
  const base = Date.now() - images - 60_000
  let lastReport = performance.now()
  for (let k = 0; k < images; k++) {
    const n = k % owners
    const bucket = bucketOfOwner[n]!
    const shard = directory.shardOf[bucket]!
    const id = newImageId(bucket, base + k)
    const batch = batches.get(shard)!
    batch.ids.push(id)
    batch.owners.push(ownerName(n))
    batch.buckets.push(bucket)
    batch.bytes.push(2_000_000 + ((k * 7919) % 1_000_000))
    batch.created.push(base + k)
    perShard.set(shard, perShard.get(shard)! + 1)
    if (k % step === 0 && sample.length < sampleSize) sample.push(id)
    if (batch.ids.length >= SEED_BATCH[engine]) {
      await room()
      launch(shard, batch)
      batches.set(shard, empty())
    }
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now()
      const s = (lastReport - started) / 1000
      console.error(
        `    ${label}: ${k + 1} of ${images} rows in ${s.toFixed(0)} s (${((k + 1) / s).toFixed(0)} rows/s)`,
      )
    }
  }
  for (const [shard, batch] of batches) {
    if (batch.ids.length === 0) continue
    await room()
    launch(shard, batch)
  }
  await Promise.all(inFlight)
  if (failure) throw failure
  // What autovacuum would do soon anyway: planner statistics and the visibility map, so it does
  // not start in the middle of a measurement.
  const inserted = performance.now()
  const analyze = engine === 'sqlite' ? sql`ANALYZE` : sql`VACUUM (ANALYZE) images, variants`
  await Promise.all([...dbs.values()].map((db) => analyze.execute(db)))
  return {
    seconds: (inserted - started) / 1000,
    vacuumSeconds: (performance.now() - inserted) / 1000,
    sample,
    perShard,
  }
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex')

/** The same rows as the PostgreSQL statements make, as multi-row VALUES. */
async function flushSqlite(
  db: Kysely<MetadataDb>,
  batch: { ids: string[]; owners: string[]; buckets: number[]; bytes: number[]; created: number[] },
  variants: number,
): Promise<void> {
  const images = batch.ids.map(
    (id, i) =>
      sql`(${id}, ${batch.owners[i]}, ${batch.buckets[i]}, 'public', 'ready', 'jpeg', 4000, 3000, 1, ${batch.bytes[i]},
           ${md5(id) + md5(batch.owners[i]!)}, NULL, '1QcSHQRnh493V4dIh4eXh1h4kJUI', NULL, NULL, 1, ${batch.created[i]}, ${batch.created[i]})`,
  )
  await db.transaction().execute(async (trx) => {
    await sql`
      INSERT INTO images (id, owner_id, bucket, visibility, status, format, width, height, frames, bytes, sha256,
                          idempotency_key, placeholder, failure_code, failure_detail, attempts, created_at, updated_at)
      VALUES ${sql.join(images)}`.execute(trx)
    if (variants === 0) return
    const rows = batch.ids.flatMap((id, i) =>
      VARIANT_SHAPES.slice(0, variants).map(
        (v) =>
          sql`(${id}, ${batch.buckets[i]}, ${sql.lit(v.name)}, ${sql.lit(v.format)}, ${sql.lit(v.width)}, ${sql.lit(v.height)}, ${sql.lit(v.bytes)},
               ${`"${md5(id + v.name + v.format).slice(0, 16)}"`}, ${`images/${id}/${v.name}.${v.format}`})`,
      ),
    )
    await sql`
      INSERT INTO variants (image_id, bucket, name, format, width, height, bytes, etag, object_key)
      VALUES ${sql.join(rows)}`.execute(trx)
  })
}
