import { type Kysely, sql, type Transaction } from 'kysely'
import { dialectOf } from '../db/database.js'
import { BUCKET_COUNT } from '../domain/bucket.js'
import type { StrategyConfig } from '../domain/owner-strategy.js'
import type { BucketMoveRow, DirectoryDb, MovePhase } from './control-db.js'

/** A snapshot of the control database's routing state; `epoch` grows with every bucket switch. */
export interface Directory {
  epoch: number
  /** shardOf[bucket] = shard id. */
  shardOf: readonly number[]
  /** shard id → connection URL or SQLite path, in id order. */
  shards: ReadonlyMap<number, string>
  strategy: StrategyConfig
  placements: ReadonlyMap<string, number>
}

/**
 * The directory's persistence in the control database: bucket → shard with its epoch, the shard
 * registry, per-owner placements and the moves in progress. Every switch is one transaction that
 * moves the bucket and bumps the epoch, conditional on the bucket still being where the mover thinks.
 */
export function createDirectoryStore(control: Kysely<DirectoryDb>) {
  async function epoch(
    db: Kysely<DirectoryDb> | Transaction<DirectoryDb> = control,
  ): Promise<number | null> {
    const row = await db
      .selectFrom('directory_meta')
      .select('epoch')
      .where('id', '=', 1)
      .executeTakeFirst()
    return row ? Number(row.epoch) : null
  }

  /** One more routing change: routers compare epochs to notice it. */
  async function bumpEpoch(db: Kysely<DirectoryDb> | Transaction<DirectoryDb>): Promise<void> {
    await db
      .updateTable('directory_meta')
      .set((eb) => ({ epoch: eb('epoch', '+', 1) }))
      .where('id', '=', 1)
      .execute()
  }

  function shardOfBucket(trx: Transaction<DirectoryDb>, bucket: number) {
    return trx
      .selectFrom('bucket_directory')
      .select('shard_id')
      .where('bucket', '=', bucket)
      .executeTakeFirst()
  }

  return {
    epoch: () => epoch(),

    async load(): Promise<Directory | null> {
      return control.transaction().execute(async (trx) => {
        const meta = await trx
          .selectFrom('directory_meta')
          .selectAll()
          .where('id', '=', 1)
          .executeTakeFirst()
        if (!meta) return null
        const [rows, shards, placements] = await Promise.all([
          trx.selectFrom('bucket_directory').select(['bucket', 'shard_id']).execute(),
          trx.selectFrom('shards').select(['id', 'url']).orderBy('id').execute(),
          trx.selectFrom('owner_placements').select(['owner_id', 'bucket']).execute(),
        ])
        const shardOf = new Array<number>(BUCKET_COUNT).fill(-1)
        for (const row of rows) shardOf[Number(row.bucket)] = Number(row.shard_id)
        return {
          epoch: Number(meta.epoch),
          shardOf,
          shards: new Map(shards.map((s) => [Number(s.id), s.url])),
          strategy: JSON.parse(meta.strategy) as StrategyConfig,
          placements: new Map(placements.map((p) => [p.owner_id, Number(p.bucket)])),
        }
      })
    },

    /** Creates the registry and directory once; a second caller (a racing process) changes nothing. */
    async initialize(
      urls: readonly string[],
      shardOf: readonly number[],
      strategy: StrategyConfig,
      now = Date.now(),
    ): Promise<void> {
      await control.transaction().execute(async (trx) => {
        await lockDirectory(trx)
        if ((await epoch(trx)) !== null) return
        await trx
          .insertInto('shards')
          .values(urls.map((url, id) => ({ id, url, created_at: now })))
          .execute()
        for (let at = 0; at < shardOf.length; at += 500) {
          const rows = shardOf
            .slice(at, at + 500)
            .map((shard_id, i) => ({ bucket: at + i, shard_id }))
          await trx.insertInto('bucket_directory').values(rows).execute()
        }
        await trx
          .insertInto('directory_meta')
          .values({ id: 1, epoch: 1, strategy: JSON.stringify(strategy) })
          .execute()
      })
    },

    /** Registers a shard (holding no buckets yet); returns its id. Registering a known URL returns its id. */
    async addShard(url: string, now = Date.now()): Promise<number> {
      return control.transaction().execute(async (trx) => {
        const known = await trx
          .selectFrom('shards')
          .select('id')
          .where('url', '=', url)
          .executeTakeFirst()
        if (known) return Number(known.id)
        const last = await trx
          .selectFrom('shards')
          .select((eb) => eb.fn.max('id').as('id'))
          .executeTakeFirst()
        const id = Number(last?.id ?? -1) + 1
        await trx.insertInto('shards').values({ id, url, created_at: now }).execute()
        return id
      })
    },

    /**
     * Points a bucket at its new shard and bumps the epoch, only if it is still on `from`, and
     * records its move's `next` phase in the same transaction: the switch is inside the bucket's
     * write pause, where a record of its own would be one more commit. Returns the move's row as
     * recorded when the bucket is on `to` now (this call or an earlier run of the same move
     * switched it); null when it is not, and nothing was written. A bucket with no move to record
     * is refused whole: a switch is never committed without its record.
     */
    async switchBucket(
      bucket: number,
      from: number,
      to: number,
      next: MovePhase,
      now = Date.now(),
    ): Promise<BucketMoveRow | null> {
      return control.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable('bucket_directory')
          .set({ shard_id: to })
          .where('bucket', '=', bucket)
          .where('shard_id', '=', from)
          .executeTakeFirst()
        const moved = Number(result.numUpdatedRows) === 1
        if (moved) await bumpEpoch(trx)
        else if (Number((await shardOfBucket(trx, bucket))?.shard_id) !== to) return null
        const move = await trx
          .updateTable('bucket_moves')
          .set({ phase: next, updated_at: now })
          .where('bucket', '=', bucket)
          .returningAll()
          .executeTakeFirst()
        if (!move) throw new Error(`Bucket ${bucket} has no move to record: not switched`)
        return normalizeMove(move)
      })
    },

    async place(ownerId: string, bucket: number): Promise<void> {
      await control
        .insertInto('owner_placements')
        .values({ owner_id: ownerId, bucket })
        .onConflict((oc) => oc.column('owner_id').doUpdateSet({ bucket }))
        .execute()
      // A placement changes routing like a switch does: bump the epoch so routers notice.
      await bumpEpoch(control)
    },

    moves: {
      async list(): Promise<BucketMoveRow[]> {
        const rows = await control
          .selectFrom('bucket_moves')
          .selectAll()
          .orderBy('bucket')
          .execute()
        return rows.map(normalizeMove)
      },

      async get(bucket: number): Promise<BucketMoveRow | null> {
        const row = await control
          .selectFrom('bucket_moves')
          .selectAll()
          .where('bucket', '=', bucket)
          .executeTakeFirst()
        return row ? normalizeMove(row) : null
      },

      /** Starts (or restarts, after a finished or failed one) the move of a bucket. */
      async plan(
        bucket: number,
        source: number,
        target: number,
        now = Date.now(),
      ): Promise<BucketMoveRow> {
        const row: BucketMoveRow = {
          bucket,
          source,
          target,
          phase: 'capture',
          copy_cursor: null,
          rows_copied: 0,
          changes_applied: 0,
          started_at: now,
          updated_at: now,
          fenced_at: null,
          detail: null,
        }
        await control
          .insertInto('bucket_moves')
          .values(row)
          .onConflict((oc) =>
            oc
              .column('bucket')
              .doUpdateSet(row)
              .where('bucket_moves.phase', 'in', ['done', 'failed']),
          )
          .execute()
        return (await this.get(bucket)) as BucketMoveRow
      },

      /** Returns the row as it now stands (null: no move of that bucket), in the same round trip. */
      async update(
        bucket: number,
        changes: Partial<Omit<BucketMoveRow, 'bucket'>> & { phase?: MovePhase },
        now = Date.now(),
      ): Promise<BucketMoveRow | null> {
        const row = await control
          .updateTable('bucket_moves')
          .set({ ...changes, updated_at: now })
          .where('bucket', '=', bucket)
          .returningAll()
          .executeTakeFirst()
        return row ? normalizeMove(row) : null
      },
    },

    /**
     * Named leases (a lock with an expiry): `acquire` takes a free or expired lease, `renew`
     * extends it for its holder only, `release` frees it. Each is one conditional statement, so
     * racing processes cannot both win. Times are the callers' clocks: keep TTLs far above skew.
     */
    leases: {
      async acquire(
        name: string,
        holder: string,
        ttlMs: number,
        now = Date.now(),
      ): Promise<{ acquired: true } | { acquired: false; holder: string; expiresAt: number }> {
        const expires_at = now + ttlMs
        for (;;) {
          const inserted = await control
            .insertInto('leases')
            .values({ name, holder, expires_at })
            .onConflict((oc) => oc.column('name').doNothing())
            .executeTakeFirst()
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { acquired: true }
          const taken = await control
            .updateTable('leases')
            .set({ holder, expires_at })
            .where('name', '=', name)
            .where((eb) => eb.or([eb('expires_at', '<=', now), eb('holder', '=', holder)]))
            .executeTakeFirst()
          if (Number(taken.numUpdatedRows) === 1) return { acquired: true }
          const row = await control
            .selectFrom('leases')
            .select(['holder', 'expires_at'])
            .where('name', '=', name)
            .executeTakeFirst()
          if (row) return { acquired: false, holder: row.holder, expiresAt: Number(row.expires_at) }
          // Released between the statements: try again from the start.
        }
      },

      /** False when the lease is no longer this holder's (it expired and another took it). */
      async renew(name: string, holder: string, ttlMs: number, now = Date.now()): Promise<boolean> {
        const result = await control
          .updateTable('leases')
          .set({ expires_at: now + ttlMs })
          .where('name', '=', name)
          .where('holder', '=', holder)
          .executeTakeFirst()
        return Number(result.numUpdatedRows) === 1
      },

      async release(name: string, holder: string): Promise<void> {
        await control
          .deleteFrom('leases')
          .where('name', '=', name)
          .where('holder', '=', holder)
          .execute()
      },
    },
  }
}

export type DirectoryStore = ReturnType<typeof createDirectoryStore>

/**
 * Serialises processes creating the directory at the same first start, so exactly one creates
 * it and the others see it. PostgreSQL: a transaction-scoped advisory lock (READ COMMITTED would
 * let both see "no directory yet"). SQLite: a write as the first statement takes the file's
 * write lock before anything is read.
 */
async function lockDirectory(trx: Transaction<DirectoryDb>): Promise<void> {
  if (dialectOf(trx) === 'postgres')
    await sql`select pg_advisory_xact_lock(${DIRECTORY_LOCK})`.execute(trx)
  else
    await trx
      .updateTable('directory_meta')
      .set((eb) => ({ epoch: eb.ref('epoch') }))
      .where('id', '=', 1)
      .execute()
}

/** An arbitrary 64-bit key for the advisory lock ("pxflow" in ASCII). */
const DIRECTORY_LOCK = 0x7078666c6f77

function normalizeMove(row: BucketMoveRow): BucketMoveRow {
  return {
    ...row,
    bucket: Number(row.bucket),
    source: Number(row.source),
    target: Number(row.target),
    rows_copied: Number(row.rows_copied),
    changes_applied: Number(row.changes_applied),
    started_at: Number(row.started_at),
    updated_at: Number(row.updated_at),
    fenced_at: row.fenced_at === null ? null : Number(row.fenced_at),
  }
}
