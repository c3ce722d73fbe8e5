import type { Logger } from 'pino'
import type { ReconcileConfig } from '../config/schema.js'
import { processImagePayload } from '../domain/jobs.js'
import type { JobFailureCode } from '../errors/codes.js'
import type { StuckImage } from '../metadata/shard-stuck.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { DeadJob, QueueDriver } from '../queue/queue.js'
import { imageIdOfJob } from './job-image.js'

export type ReconcileSettings = Pick<ReconcileConfig, 'stuckAfterMs' | 'maxRequeues' | 'batchSize'>

export interface ReconcileDeps {
  metadata: ShardedMetadata
  queue: Pick<QueueDriver, 'listDead'>
  settings: ReconcileSettings
  logger: Logger
  /** After each change of an image row, so cached copies are dropped (as the worker does). */
  onChanged?: (imageId: string) => Promise<void>
  /** Counts what a real run found and did (the Prometheus counter). */
  count?: (kind: 'stuck' | 'dead', action: 'found' | 'requeued' | 'failed') => void
  now?: () => number
}

/** What a dry run would do is named like what a real run did, prefixed `would-`. */
export type StuckAction = 'requeued' | 'failed' | 'would-requeue' | 'would-fail' | 'moved-on'

export interface ReconcileReport {
  dryRun: boolean
  stuck: (Omit<StuckImage, 'updatedAt'> & { ageMs: number; action: StuckAction })[]
  /** Dead jobs whose image was still queued or processing. */
  dead: { jobId: string; imageId: string; status: string; code: JobFailureCode; action: string }[]
  /** Shards or the dead queue that could not be read this run: the next run tries again. */
  errors: string[]
}

/**
 * One sweep: images nothing will move any more end up moving or failed. Safe to run in several
 * processes at once (every change is conditional on the row as it was read, so one wins) and
 * bounded per run (`batchSize` images per shard, `batchSize` dead jobs).
 */
export async function reconcileOnce(
  deps: ReconcileDeps,
  options: { dryRun?: boolean } = {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    dryRun: options.dryRun ?? false,
    stuck: [],
    dead: [],
    errors: [],
  }
  await Promise.all([sweepStuck(deps, report), sweepDead(deps, report)])
  return report
}

async function sweepStuck(deps: ReconcileDeps, report: ReconcileReport): Promise<void> {
  const now = (deps.now ?? Date.now)()
  const before = now - deps.settings.stuckAfterMs
  for (const handle of deps.metadata.shards()) {
    let found: StuckImage[]
    try {
      const shard = await deps.metadata.shard(handle.id)
      found = await shard.findStuck(before, deps.settings.batchSize)
    } catch (error) {
      report.errors.push(`shard ${handle.id}: ${(error as Error).message}`)
      continue
    }
    for (const image of found) {
      if (!report.dryRun) deps.count?.('stuck', 'found')
      const action = await settleStuck(deps, image, now, report.dryRun)
      const { updatedAt, ...rest } = image
      report.stuck.push({ ...rest, ageMs: now - updatedAt, action })
    }
  }
}

async function settleStuck(
  deps: ReconcileDeps,
  image: StuckImage,
  now: number,
  dryRun: boolean,
): Promise<StuckAction> {
  const requeue = image.requeues < deps.settings.maxRequeues
  if (dryRun) return requeue ? 'would-requeue' : 'would-fail'
  const store = deps.metadata.forBucket(image.bucket)
  const fields = { imageId: image.id, status: image.status, requeues: image.requeues }
  const ageMs = now - image.updatedAt
  if (requeue) {
    // Through the outbox: the relay publishes it to whichever queue is configured, and a
    // requeue of a job the queue still holds is harmless (same id, idempotent workers).
    const done = await store.requeueStuck(
      image.id,
      image.updatedAt,
      processImagePayload(image.id, now),
      now,
    )
    if (!done) return 'moved-on'
    deps.count?.('stuck', 'requeued')
    deps.logger.warn({ ...fields, ageMs }, 'reconciler: stuck image re-enqueued')
    return 'requeued'
  }
  const detail = `${image.status} for ${Math.round(ageMs / 1000)} s with no job moving it, after ${image.requeues} re-enqueues`
  const done = await store.failStuck(image.id, image.updatedAt, 'PROCESSING_STUCK', detail, now)
  if (!done) return 'moved-on'
  await deps.onChanged?.(image.id)
  deps.count?.('stuck', 'failed')
  deps.logger.warn({ ...fields, ageMs, code: 'PROCESSING_STUCK' }, 'reconciler: stuck image failed')
  return 'failed'
}

/**
 * A job can reach the dead queue without our code failing its image: the broker's own backstop
 * (x-delivery-limit, maxReceiveCount) moved it, or the worker died between dead-lettering and
 * failing the image. Such an image is failed here, with the code its history points to.
 */
async function sweepDead(deps: ReconcileDeps, report: ReconcileReport): Promise<void> {
  let jobs: DeadJob[]
  try {
    jobs = await deps.queue.listDead(deps.settings.batchSize)
  } catch (error) {
    report.errors.push(`dead queue: ${(error as Error).message}`)
    return
  }
  for (const job of jobs) {
    const imageId = imageIdOfJob(job.payload)
    const store = imageId ? deps.metadata.forImageId(imageId) : null
    if (!imageId || !store) continue
    try {
      const image = await store.getImage(imageId)
      if (!image || (image.status !== 'queued' && image.status !== 'processing')) continue
      const code: JobFailureCode = crashed(job) ? 'PROCESSING_CRASHED' : 'RETRIES_EXHAUSTED'
      const entry = { jobId: job.id, imageId, status: image.status, code }
      if (report.dryRun) {
        report.dead.push({ ...entry, action: 'would-fail' })
        continue
      }
      deps.count?.('dead', 'found')
      const detail = `the job is dead after ${job.attempts} deliveries: ${job.errors.at(-1) ?? 'no error recorded'}`
      const failed = await store.failImage(imageId, code, detail, (deps.now ?? Date.now)())
      if (failed) {
        await deps.onChanged?.(imageId)
        deps.count?.('dead', 'failed')
        deps.logger.warn(entry, 'reconciler: image of a dead job failed')
      }
      report.dead.push({ ...entry, action: failed ? 'failed' : 'moved-on' })
    } catch (error) {
      report.errors.push(`image ${imageId}: ${(error as Error).message}`)
    }
  }
}

/** Fewer recorded errors than deliveries: some deliveries ended with no error, the worker died. */
function crashed(job: DeadJob): boolean {
  return job.errors.length < job.attempts
}
