import type { Logger } from 'pino'
import sharp from 'sharp'
import type { LimitsConfig, ProcessingConfig } from '../config/schema.js'
import type { OutputFormat } from '../domain/formats.js'
import { type Image, objectKeys, type Variant } from '../domain/image.js'
import { ACCEPTED_JOB_VERSIONS, parseProcessImageJob } from '../domain/jobs.js'
import type { JobFailureCode } from '../errors/codes.js'
import { isPermanent } from '../errors/index.js'
import { createWatermarker } from '../imaging/watermark.js'
import type { Completion } from '../metadata/shard-store.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { inSpan } from '../observability/tracing.js'
import type { LeasedJob } from '../queue/queue.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import type { ObjectStore } from '../storage/object-store.js'
import { readAll } from '../storage/read-all.js'
import { decodeSource } from './pipeline/decode.js'
import { dominantColor } from './pipeline/dominant-color.js'
import { encodeVariant, variantSize } from './pipeline/encode.js'
import { makePlaceholder } from './pipeline/placeholder.js'

export interface ProcessorDeps {
  metadata: ShardedMetadata
  store: ObjectStore
  processing: ProcessingConfig
  limits: LimitsConfig
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
}

/**
 * The `process-image` job. Idempotent: object keys are deterministic and `completeImage` only
 * moves a row out of queued/processing, so a redelivered job never makes a second result.
 */
export function createImageProcessor(deps: ProcessorDeps): JobHandler {
  // A process-wide libvips setting; the processor is the only user of the pipeline in a process.
  sharp.cache(deps.processing.vipsCacheMb > 0 ? { memory: deps.processing.vipsCacheMb } : false)
  const watermark = createWatermarker(deps.processing.watermark)
  const maxWidth = Math.max(...deps.processing.presets.map((p) => p.width))
  const changed = async (imageId: string) => deps.onChanged?.(imageId)

  async function makeVariants(image: Image, signal: AbortSignal): Promise<Completion> {
    const original = await deps.store.get(objectKeys.original(image.id))
    if (!original) throw new Error(`Original of ${image.id} is missing from the object store`)
    const source = await readAll(original)
    const decoded = await inSpan('decode', { 'pixelflow.bytes': source.length }, () =>
      decodeSource(source, deps.limits, maxWidth),
    )
    const placeholder = await makePlaceholder(deps.processing.placeholder, decoded)
    const color = await dominantColor(decoded)
    const variants: Variant[] = []
    // A source smaller than several presets would give each the same pixels: the first preset
    // of a size writes the object, the others point at it instead of storing identical copies.
    const made = new Map<string, Variant>()
    for (const preset of deps.processing.presets) {
      signal.throwIfAborted()
      const markWidth = Math.min(preset.width, decoded.info.width)
      const overlay = await watermark(markWidth, preset.watermark)
      const sameAs = (format: OutputFormat) => {
        const { width, height } = variantSize(decoded, preset.width, format)
        return `${format}:${width}x${height}:${overlay ? `${markWidth}@${overlay.gravity}` : 0}`
      }
      const missing = deps.processing.formats.filter((format) => !made.has(sameAs(format)))
      const encoded = await Promise.all(
        missing.map((format) =>
          inSpan('encode', { 'pixelflow.width': preset.width, 'pixelflow.format': format }, () =>
            encodeVariant(decoded, preset.width, format, deps.processing.quality, overlay),
          ),
        ),
      )
      for (const [i, format] of missing.entries()) {
        const out = encoded[i]!
        const key = objectKeys.variant(image.id, preset.name, format)
        await deps.store.put(key, out.data)
        made.set(sameAs(format), {
          name: preset.name,
          format,
          width: out.width,
          height: out.height,
          bytes: out.data.length,
          etag: out.etag,
          key,
        })
      }
      for (const format of deps.processing.formats)
        variants.push({ ...made.get(sameAs(format))!, name: preset.name })
    }
    return { variants, placeholder, dominantColor: color }
  }

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
        const done = await makeVariants(image, signal)
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
