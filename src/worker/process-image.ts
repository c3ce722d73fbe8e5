import type { Logger } from 'pino'
import { type Image, objectKeys } from '../domain/image.js'
import { ACCEPTED_JOB_VERSIONS, parseProcessImageJob } from '../domain/jobs.js'
import type { JobFailureCode } from '../errors/codes.js'
import { isPermanent } from '../errors/index.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { LeasedJob } from '../queue/queue.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import { createVariantRenderer, type RenderDeps } from './render-variants.js'

/** What rendering needs (store, processing, limits, the decode budget), and the job's own deps. */
export interface ProcessorDeps extends RenderDeps {
  metadata: ShardedMetadata
  logger: Logger
  /** Called after each change of an image row, so cached copies are dropped. */
  onChanged?: (imageId: string) => Promise<void>
  /** Payload versions this worker reads; tests set `[1]` to play the previous release. */
  acceptedVersions?: readonly number[]
  /** Runs once the image is marked processing, before any work: the fault tests' crash hook. */
  onStart?: (image: Image) => void
}

/**
 * ready: variants committed · failed: permanent input error · skipped: nothing left to do ·
 * deferred: written by a newer release, to be released (not acked, not failed) for a newer worker.
 */
export type JobOutcome = 'ready' | 'failed' | 'skipped' | 'deferred'

export interface JobHandler {
  handle(job: LeasedJob, signal: AbortSignal): Promise<JobOutcome>
  /**
   * The queue gave up on the job (retries exhausted, or a crash loop): the image must not stay
   * `processing`. `code` is the image's failure code.
   */
  onDead(job: LeasedJob, error: unknown, code: JobFailureCode): Promise<void>
  /**
   * How many times the job's work was started before this delivery, or null when unknown. A
   * prefetching broker's count also holds deliveries that waited and never started (their worker
   * died first); near maxAttempts the worker trusts the lower count (counted-tries.ts).
   */
  startsBefore?(job: LeasedJob): Promise<number | null>
}

/**
 * The `process-image` job. Idempotent: object keys are deterministic and `completeImage` only
 * moves a row out of queued/processing, so a redelivered job never makes a second result.
 */
export function createImageProcessor(deps: ProcessorDeps): JobHandler {
  const renderVariants = createVariantRenderer(deps)
  const changed = async (imageId: string) => deps.onChanged?.(imageId)

  const accepts = deps.acceptedVersions ?? ACCEPTED_JOB_VERSIONS

  /** The image id of an accepted job, or null for one from a newer release (to be deferred). */
  function readJob(job: LeasedJob): string | null {
    const parsed = parseProcessImageJob(job.payload, accepts)
    if (parsed.kind === 'accepted') return parsed.work.imageId
    if (parsed.kind === 'invalid') throw new Error(`Unreadable process-image job: ${parsed.reason}`)
    deps.logger.warn(
      { jobId: job.id, imageId: parsed.imageId, version: parsed.version, accepts },
      'job from a newer release: releasing it for a newer worker',
    )
    return null
  }

  return {
    async handle(job, signal) {
      const imageId = readJob(job)
      if (imageId === null) return 'deferred'
      const shard = deps.metadata.forImageId(imageId)
      const image = shard && (await shard.startProcessing(imageId, Date.now()))
      if (!shard || !image || image.status !== 'processing') return 'skipped'
      await changed(image.id)
      deps.onStart?.(image)
      try {
        const done = await renderVariants(image, signal)
        if (await shard.completeImage(image.id, done, Date.now())) {
          await changed(image.id)
          return 'ready'
        }
        // Deleted while we worked: the delete could not see the objects we just wrote.
        if (!(await shard.getImage(image.id)))
          await deletePrefix(deps.store, objectKeys.prefix(image.id))
        return 'skipped'
      } catch (error) {
        if (!isPermanent(error)) throw error
        const { code, message } = error as { code: string; message: string }
        deps.logger.info({ imageId, code, err: error }, 'image failed permanently')
        await shard.failImage(image.id, code, message, Date.now())
        await changed(image.id)
        return 'failed'
      }
    },
    async startsBefore(job) {
      // The image row counts its starts (startProcessing), committed before any work begins.
      const parsed = parseProcessImageJob(job.payload, accepts)
      if (parsed.kind !== 'accepted') return null
      const { imageId } = parsed.work
      const image = await deps.metadata.forImageId(imageId)?.getImage(imageId)
      return image ? image.attempts : null
    },
    async onDead(job, error, code) {
      // Any version, even one this worker cannot process: the image must not stay `processing`.
      const parsed = parseProcessImageJob(job.payload, accepts)
      const imageId = parsed.kind === 'accepted' ? parsed.work.imageId : parsed.imageId
      if (!imageId) return
      const detail = error instanceof Error ? error.message : String(error)
      await deps.metadata.forImageId(imageId)?.failImage(imageId, code, detail, Date.now())
      await changed(imageId)
    },
  }
}
