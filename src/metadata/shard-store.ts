import type { Kysely, Selectable, Transaction } from 'kysely'
import { dialectOf, isUniqueViolation } from '../db/database.js'
import type { FocalPoint, Image, NewImage, Placeholder, Variant } from '../domain/image.js'
import { AppError } from '../errors/index.js'
import { groupCommits, type Transact } from '../lib/group-commit.js'
import type { MetadataDb, VariantsTable } from './db.js'
import {
  assertReadable,
  assertServesReads,
  claimForWrite,
  logChange,
  readableBuckets,
} from './ownership.js'
import { findEarlier } from './shard-dedupe.js'
import { eventQueries, recordImageEvent } from './shard-events.js'
import {
  imageIn,
  servedImages,
  sortVariants,
  toImage,
  toRow,
  toVariant,
  toVariantRow,
  variantsOf,
  withAllVariants,
  withVariants,
} from './shard-rows.js'
import { type ShardStats, shardStats } from './shard-stats.js'
import { stuckImageQueries } from './shard-stuck.js'

export interface OutboxItem {
  seq: number
  jobId: string
  payload: string
}

export interface Completion {
  variants: Variant[]
  placeholder: Placeholder | null
  /** `#rrggbb`; absent or null when the worker did not compute one. */
  dominantColor?: string | null
}

/**
 * One shard's queries. Kysely keeps them the same for SQLite and PostgreSQL. Every image method
 * takes the bucket first: writes claim it (ownership.ts) and reads confirm it afterwards, so a
 * router with a stale directory is refused instead of served from the wrong shard.
 */
export function createShardStore(db: Kysely<MetadataDb>) {
  // SQLite commits are fsyncs on the event loop: concurrent writes share one (group-commit.ts).
  // PostgreSQL commits off the loop, on a pool, and groups its own WAL flushes.
  const transact: Transact<MetadataDb> =
    dialectOf(db) === 'sqlite' ? groupCommits(db) : (body) => db.transaction().execute(body)

  /** A write transaction on one bucket: claimed first, logged when the bucket is being copied away. */
  function write<T>(
    bucket: number,
    imageId: string,
    body: (trx: Transaction<MetadataDb>) => Promise<T>,
  ): Promise<T> {
    return transact(async (trx) => {
      const capture = await claimForWrite(trx, bucket)
      const result = await body(trx)
      if (capture) await logChange(trx, bucket, imageId)
      return result
    })
  }

  async function read<T>(bucket: number, body: () => Promise<T>): Promise<T> {
    const result = await body()
    await assertReadable(db, bucket)
    return result
  }

  return {
    db,

    /**
     * Image row and its outbox row in one transaction; an idempotency-key race returns the winner.
     * The answer is the row as written, not read back after the commit: that read could be refused
     * by a switch, and the router's retry would then insert the image a second time. With
     * `dedupe`, the owner's earlier image of the same bytes is returned instead (shard-dedupe.ts).
     */
    async createImage(
      bucket: number,
      image: NewImage,
      jobPayload: string,
      now: number,
      quota?: Quota,
      dedupe = false,
    ): Promise<Image | { existing: Image; deduplicated?: true }> {
      const row = toRow(image, now)
      try {
        return await write(bucket, image.id, async (trx) => {
          const earlier = dedupe ? await findEarlier(trx, image) : null
          if (earlier) return earlier
          if (quota) await assertWithinQuota(trx, image, quota)
          await trx.insertInto('images').values(row).execute()
          await trx
            .insertInto('outbox')
            .values({ job_id: image.id, bucket, payload: jobPayload, created_at: now })
            .execute()
          return toImage(row, [])
        })
      } catch (error) {
        const existing =
          image.idempotencyKey &&
          (await this.findByIdempotencyKey(bucket, image.ownerId, image.idempotencyKey))
        if (isUniqueViolation(error) && existing) return { existing }
        throw error
      }
    },

    findByIdempotencyKey(bucket: number, ownerId: string, key: string): Promise<Image | null> {
      return read(bucket, async () => {
        const row = await db
          .selectFrom('images')
          .selectAll()
          .where('owner_id', '=', ownerId)
          .where('idempotency_key', '=', key)
          .executeTakeFirst()
        return row ? withVariants(db, row) : null
      })
    },

    /**
     * The hottest read, in two statements instead of read()'s three: the row, then its variants
     * and the bucket's state together. The state is still read last, which is what read() needs.
     */
    async getImage(bucket: number, id: string): Promise<Image | null> {
      const row = await db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst()
      const rows = await db
        .selectFrom('bucket_ownership')
        .leftJoin('variants', (join) => join.on('variants.image_id', '=', id))
        .select([
          'bucket_ownership.state',
          'variants.image_id',
          'variants.name',
          'variants.format',
          'variants.width',
          'variants.height',
          'variants.bytes',
          'variants.etag',
          'variants.object_key',
          'variants.version',
          'variants.bucket',
        ])
        .where('bucket_ownership.bucket', '=', bucket)
        .execute()
      assertServesReads(bucket, rows[0]?.state ?? null)
      if (!row) return null
      const variants = rows
        .filter((r) => r.image_id !== null)
        .map((r) => toVariant(r as Selectable<VariantsTable>))
      return toImage(row, sortVariants(variants))
    },

    /** Newest first; `before` is the last id of the previous page (keyset pagination). */
    listImages(bucket: number, ownerId: string, limit: number, before?: string): Promise<Image[]> {
      return read(bucket, async () => {
        let query = db.selectFrom('images').selectAll().where('owner_id', '=', ownerId)
        if (before) query = query.where('id', '<', before)
        const rows = await query.orderBy('id', 'desc').limit(limit).execute()
        return withAllVariants(db, rows)
      })
    },

    deleteImage(bucket: number, id: string): Promise<Image | null> {
      return write(bucket, id, async (trx) => {
        const image = await trx
          .selectFrom('images')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirst()
        if (!image) return null
        const variants = await variantsOf(trx, [id])
        await trx.deleteFrom('variants').where('image_id', '=', id).execute()
        await trx.deleteFrom('outbox').where('job_id', '=', id).execute()
        await trx.deleteFrom('images').where('id', '=', id).execute()
        await recordImageEvent(trx, id, 'image.deleted', { status: 'deleted' }, Date.now(), image)
        return toImage(image, variants.get(id) ?? [])
      })
    },

    /** Sets or clears (null) the focal point; the image as written, null when the row is gone. */
    setFocalPoint(
      bucket: number,
      id: string,
      point: FocalPoint | null,
      now: number,
    ): Promise<Image | null> {
      return write(bucket, id, async (trx) => {
        await trx
          .updateTable('images')
          .set({ focal_x: point?.x ?? null, focal_y: point?.y ?? null, updated_at: now })
          .where('id', '=', id)
          .execute()
        return imageIn(trx, id)
      })
    },

    /** Marks a queued image as processing and counts the attempt; null when the row is gone. Read back in the transaction, as createImage is. */
    startProcessing(bucket: number, id: string, now: number): Promise<Image | null> {
      return write(bucket, id, async (trx) => {
        await trx
          .updateTable('images')
          .set((eb) => ({
            status: 'processing',
            attempts: eb('attempts', '+', 1),
            updated_at: now,
          }))
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'processing'])
          .execute()
        return imageIn(trx, id)
      })
    },

    /**
     * Variant rows and `ready` in one transaction. Returns false when the image was deleted or
     * already finished, so a duplicate delivery never writes a second result.
     */
    completeImage(bucket: number, id: string, done: Completion, now: number): Promise<boolean> {
      return write(bucket, id, async (trx) => {
        const result = await trx
          .updateTable('images')
          .set({
            status: 'ready',
            placeholder: done.placeholder?.value ?? null,
            placeholder_type: done.placeholder?.type ?? null,
            dominant_color: done.dominantColor ?? null,
            failure_code: null,
            failure_detail: null,
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'processing'])
          .executeTakeFirst()
        if (Number(result.numUpdatedRows) === 0) return false
        await trx.deleteFrom('variants').where('image_id', '=', id).execute()
        if (done.variants.length > 0) {
          await trx
            .insertInto('variants')
            .values(done.variants.map((v) => toVariantRow(id, bucket, v)))
            .execute()
        }
        await recordImageEvent(trx, id, 'image.ready', { status: 'ready' }, now)
        return true
      })
    },

    /**
     * Swaps a ready image's variant rows for a new set (`pixelflow images reprocess`). Returns the
     * image as it was before, or null when it is gone or no longer ready: the caller then owns
     * the objects it wrote for nothing.
     */
    replaceVariants(
      bucket: number,
      id: string,
      variants: Variant[],
      now: number,
    ): Promise<Image | null> {
      return write(bucket, id, async (trx) => {
        const before = await imageIn(trx, id)
        if (before?.status !== 'ready') return null
        await trx.updateTable('images').set({ updated_at: now }).where('id', '=', id).execute()
        await trx.deleteFrom('variants').where('image_id', '=', id).execute()
        if (variants.length > 0)
          await trx
            .insertInto('variants')
            .values(variants.map((v) => toVariantRow(id, bucket, v)))
            .execute()
        return before
      })
    },

    failImage(
      bucket: number,
      id: string,
      code: string,
      detail: string,
      now: number,
    ): Promise<boolean> {
      return write(bucket, id, async (trx) => {
        const result = await trx
          .updateTable('images')
          .set({
            status: 'failed',
            failure_code: code,
            failure_detail: detail.slice(0, 1000),
            updated_at: now,
          })
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'processing'])
          .executeTakeFirst()
        if (Number(result.numUpdatedRows) === 0) return false
        const failure = { code, detail: detail.slice(0, 1000) }
        await recordImageEvent(trx, id, 'image.failed', { status: 'failed', failure }, now)
        return true
      })
    },

    ...stuckImageQueries(db, write),

    ...eventQueries(db),

    /**
     * Every owner's images in the buckets this shard serves, newest first: one input of the
     * cross-shard admin listing. Rows of a bucket being copied in (or already let go and not yet
     * cleaned up) are left out. `served`: the buckets served both before and after the query, so
     * throughout it (a shard gains a bucket once and loses it once per move): the listing checks
     * that the shards together covered every bucket.
     */
    async listAll(limit: number, before?: string): Promise<{ images: Image[]; served: number[] }> {
      const servedBefore = await readableBuckets(db)
      let query = servedImages(db).selectAll('images')
      if (before) query = query.where('images.id', '<', before)
      const rows = await query.orderBy('images.id', 'desc').limit(limit).execute()
      const servedAfter = new Set(await readableBuckets(db))
      return {
        images: await withAllVariants(db, rows),
        served: servedBefore.filter((b) => servedAfter.has(b)),
      }
    },

    /** Rows, bytes and buckets this shard serves, and its owners with the most images. */
    stats: (hottest = 5) => shardStats(db, hottest),

    async readOutbox(limit: number): Promise<OutboxItem[]> {
      const rows = await db.selectFrom('outbox').selectAll().orderBy('seq').limit(limit).execute()
      return rows.map((r) => ({ seq: Number(r.seq), jobId: r.job_id, payload: r.payload }))
    },

    async removeOutbox(seqs: number[]): Promise<void> {
      // Through transact: on SQLite it shares the commit of the uploads of the same turn.
      if (seqs.length > 0)
        await transact((trx) => trx.deleteFrom('outbox').where('seq', 'in', seqs).execute())
    },

    async getMeta(key: string): Promise<string | null> {
      const row = await db
        .selectFrom('shard_meta')
        .select('value')
        .where('key', '=', key)
        .executeTakeFirst()
      return row?.value ?? null
    },

    async setMeta(key: string, value: string): Promise<void> {
      await db
        .insertInto('shard_meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute()
    },
  }
}

export type ShardStore = ReturnType<typeof createShardStore>
export type { ShardStats }

/** Per-owner limits; 0 means none. */
export interface Quota {
  maxImages: number
  maxBytes: number
}

/**
 * Checked inside the insert's transaction so concurrent uploads of one owner cannot both slip
 * under the limit. A sum over the owner's rows (indexed by owner) is enough at this scale; a
 * usage counter row would be the next step if owners grow to millions of images.
 */
async function assertWithinQuota(
  trx: Transaction<MetadataDb>,
  image: NewImage,
  quota: Quota,
): Promise<void> {
  if (quota.maxImages === 0 && quota.maxBytes === 0) return
  const usage = await trx
    .selectFrom('images')
    .select((eb) => [
      eb.fn.countAll<number>().as('images'),
      eb.fn.coalesce(eb.fn.sum<number>('bytes'), eb.lit(0)).as('bytes'),
    ])
    .where('owner_id', '=', image.ownerId)
    .executeTakeFirstOrThrow()
  if (quota.maxImages > 0 && Number(usage.images) + 1 > quota.maxImages) {
    throw new AppError('QUOTA_EXCEEDED', `The image quota of ${quota.maxImages} images is used up`)
  }
  if (quota.maxBytes > 0 && Number(usage.bytes) + image.bytes > quota.maxBytes) {
    throw new AppError(
      'QUOTA_EXCEEDED',
      `The storage quota of ${quota.maxBytes} bytes would be exceeded`,
    )
  }
}
