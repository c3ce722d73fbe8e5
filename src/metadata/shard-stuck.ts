import type { Kysely, Transaction } from 'kysely'
import type { MetadataDb } from './db.js'
import { recordImageEvent } from './shard-events.js'
import { servedImages } from './shard-rows.js'

/**
 * The reconciler's queries on one shard: find images nothing will move, and put their job back or
 * fail them, each only if the row is still as the sweep saw it, so concurrent sweeps (and a
 * worker) cannot both act on one image.
 */
/** An unfinished image as the reconciler's sweep saw it. */
export interface StuckImage {
  id: string
  bucket: number
  status: 'queued' | 'processing'
  updatedAt: number
  requeues: number
}

type Write = <T>(
  bucket: number,
  imageId: string,
  body: (trx: Transaction<MetadataDb>) => Promise<T>,
) => Promise<T>

export function stuckImageQueries(db: Kysely<MetadataDb>, write: Write) {
  return {
    /**
     * Images of this shard's served buckets still queued or processing that nothing touched since
     * `before` and that have no outbox row (a job in the outbox is only waiting for the relay),
     * oldest first: the reconciler's candidates. Whether the queue still holds a job is not
     * knowable for every broker; re-enqueueing is harmless either way.
     */
    async findStuck(before: number, limit: number): Promise<StuckImage[]> {
      const rows = await servedImages(db)
        .leftJoin('outbox', 'outbox.job_id', 'images.id')
        .select([
          'images.id',
          'images.bucket',
          'images.status',
          'images.updated_at',
          'images.requeues',
        ])
        .where('images.status', 'in', ['queued', 'processing'])
        .where('images.updated_at', '<', before)
        .where('outbox.job_id', 'is', null)
        .orderBy('images.updated_at')
        .limit(limit)
        .execute()
      return rows.map((r) => ({
        id: r.id,
        bucket: Number(r.bucket),
        status: r.status as StuckImage['status'],
        updatedAt: Number(r.updated_at),
        requeues: Number(r.requeues),
      }))
    },

    /**
     * Puts a stuck image's job back in the outbox (the relay publishes it, to whichever queue is
     * configured) and counts the requeue. Only if the row is as the sweep saw it (`seenUpdatedAt`):
     * of two sweepers, or a sweeper and a worker, one wins and the other changes nothing.
     */
    requeueStuck(
      bucket: number,
      id: string,
      seenUpdatedAt: number,
      payload: string,
      now: number,
    ): Promise<boolean> {
      return write(bucket, id, async (trx) => {
        const result = await trx
          .updateTable('images')
          .set((eb) => ({ requeues: eb('requeues', '+', 1), updated_at: now }))
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'processing'])
          .where('updated_at', '=', seenUpdatedAt)
          .executeTakeFirst()
        if (Number(result.numUpdatedRows) === 0) return false
        await trx
          .insertInto('outbox')
          .values({ job_id: id, bucket, payload, created_at: now })
          .execute()
        return true
      })
    },

    /** failImage, but only if the row is still as the sweep saw it (see requeueStuck). */
    failStuck(
      bucket: number,
      id: string,
      seenUpdatedAt: number,
      code: string,
      detail: string,
      now: number,
    ): Promise<boolean> {
      return write(bucket, id, async (trx) => {
        const result = await trx
          .updateTable('images')
          .set({ status: 'failed', failure_code: code, failure_detail: detail, updated_at: now })
          .where('id', '=', id)
          .where('status', 'in', ['queued', 'processing'])
          .where('updated_at', '=', seenUpdatedAt)
          .executeTakeFirst()
        if (Number(result.numUpdatedRows) === 0) return false
        const failure = { code, detail }
        await recordImageEvent(trx, id, 'image.failed', { status: 'failed', failure }, now)
        return true
      })
    },
  }
}
