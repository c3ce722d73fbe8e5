import { type Kysely, sql } from 'kysely'
import type { MetadataDb } from './db.js'
import { servedImages } from './shard-rows.js'

export interface ShardStats {
  rows: number
  bytes: number
  /** How many buckets this shard has in each state (owned, capturing, fenced, incoming). */
  buckets: Record<string, number>
  hottestOwners: { ownerId: string; rows: number; bytes: number }[]
  /** The last migration applied to this shard. */
  migration: string | null
}

/** Rows, bytes and buckets this shard serves, and its owners with the most images. */
export async function shardStats(db: Kysely<MetadataDb>, hottest: number): Promise<ShardStats> {
  const [totals, owners, buckets, migration] = await Promise.all([
    servedImages(db)
      .select((eb) => [
        eb.fn.countAll<number>().as('rows'),
        eb.fn.coalesce(eb.fn.sum<number>('images.bytes'), eb.lit(0)).as('bytes'),
      ])
      .executeTakeFirstOrThrow(),
    servedImages(db)
      .select((eb) => [
        'images.owner_id',
        eb.fn.countAll<number>().as('rows'),
        eb.fn.sum<number>('images.bytes').as('bytes'),
      ])
      .groupBy('images.owner_id')
      .orderBy('rows', 'desc')
      .limit(hottest)
      .execute(),
    db
      .selectFrom('bucket_ownership')
      .select(['state', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('state')
      .execute(),
    // Kysely's migrator keeps its own table per database: each shard's schema version.
    sql<{ name: string | null }>`select max(name) as name from kysely_migration`.execute(db),
  ])
  return {
    rows: Number(totals.rows),
    bytes: Number(totals.bytes),
    buckets: Object.fromEntries(buckets.map((b) => [b.state, Number(b.count)])),
    migration: migration.rows[0]?.name ?? null,
    hottestOwners: owners.map((o) => ({
      ownerId: o.owner_id,
      rows: Number(o.rows),
      bytes: Number(o.bytes),
    })),
  }
}
