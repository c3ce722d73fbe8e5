import { LRUCache } from 'lru-cache'
import type { DeliveryConfig, LimitsConfig, ProcessingConfig } from '../config/schema.js'
import { negotiateFormat } from '../domain/formats.js'
import { type Image, objectKeys } from '../domain/image.js'
import { AppError } from '../errors/index.js'
import { createDecodeBudget, type DecodeBudget } from '../imaging/decode-budget.js'
import { isMissingFile } from '../imaging/sharp-errors.js'
import { createWatermarker } from '../imaging/watermark.js'
import type { Metrics } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'
import { decodable } from '../storage/read-all.js'
import { createDerivedCache, type DerivedResult, derivedKeys } from './derived.js'
import type { RenderLocks } from './locks/render-locks.js'
import type { TransformOptions } from './options.js'
import { planRender, type RenderPlan } from './plan.js'
import { renderPlan } from './render.js'
import { createRenderQueue } from './render-queue.js'

export interface TransformServiceDeps {
  store: ObjectStore
  locks: RenderLocks
  processing: ProcessingConfig
  limits: LimitsConfig
  settings: DeliveryConfig['transforms']
  metrics?: Pick<Metrics, 'transforms' | 'renderSeconds'>
  /** The process's decode budget, shared with its workers (start/); its own one otherwise. */
  decodeBudget?: DecodeBudget
}

/**
 * On-the-fly transforms of stored originals: plan a request, then serve its derived object or
 * render it once (derived.ts) within the bounded render queue (render-queue.ts). The HTTP layer
 * checks signatures and visibility before it calls here.
 */
export function createTransformService(deps: TransformServiceDeps) {
  const { processing, settings } = deps
  const queue = createRenderQueue(settings.concurrency, settings.maxQueued)
  const derived = createDerivedCache({
    store: deps.store,
    locks: deps.locks,
    lockTtlMs: settings.lockTtlMs,
  })
  // Operator settings that change a render's bytes without changing its options: a change gives
  // every derived result a new digest, so nothing rendered under the old settings is served.
  const salt = JSON.stringify([processing.quality, processing.watermark ?? null])
  const renderSettings = {
    limits: deps.limits,
    transformLimits: settings,
    quality: processing.quality,
    watermark: createWatermarker(processing.watermark),
    budget: deps.decodeBudget ?? createDecodeBudget(processing.decodeMemoryMb),
  }

  // The budget sweep keeps what was used recently; a touch per hit would cost a syscall per
  // request, so a key is touched at most once a minute per process.
  const touched = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 })
  function touchAtMostEvery(key: string): void {
    if (!deps.store.touch || touched.has(key)) return
    touched.set(key, true)
    deps.store.touch(key).catch(() => touched.delete(key))
  }

  async function render(image: Image, plan: RenderPlan): Promise<Buffer> {
    const source = await decodable(deps.store, objectKeys.original(image.id))
    if (!source) throw new AppError('IMAGE_NOT_FOUND', `No image ${image.id}`)
    const stop = deps.metrics?.renderSeconds.startTimer()
    try {
      return await renderPlan(source, plan, renderSettings)
    } catch (error) {
      // Deleted between the store's answer and libvips opening the file: gone, as above.
      if (isMissingFile(source, error))
        throw new AppError('IMAGE_NOT_FOUND', `No image ${image.id}`)
      throw error
    } finally {
      stop?.()
    }
  }

  return {
    presets: processing.presets,

    /**
     * The plan for options; `accept` picks the format when the options name none, and the
     * image's focal point the crop when they name no gravity.
     */
    plan(options: TransformOptions, accept: string | undefined, image?: Image): RenderPlan {
      const format = negotiateFormat(accept)
      const focal = image?.focalPoint ?? null
      return planRender(options, processing.presets, format, settings, salt, focal)
    },

    /** Only a processed image is rendered from: until then its original may not even be sound. */
    assertRenderable(image: Image): void {
      if (image.status === 'queued' || image.status === 'processing')
        throw new AppError('IMAGE_NOT_READY', `Image ${image.id} is still ${image.status}`, {
          retryAfterSeconds: 2,
        })
      if (image.status === 'failed')
        throw new AppError('VARIANT_NOT_FOUND', `Image ${image.id} failed processing`)
    },

    /** The derived object for `canonical` under `plan`, rendered now if it does not exist yet. */
    async deliver(image: Image, canonical: string, plan: RenderPlan): Promise<DerivedResult> {
      const key = derivedKeys.of(image.id, canonical, plan.digest, plan.format)
      try {
        const result = await derived.get(key, () => queue.run(() => render(image, plan)))
        deps.metrics?.transforms.inc({ result: result.kind })
        if (result.kind === 'stored') touchAtMostEvery(key)
        return result
      } catch (error) {
        if ((error as AppError).code === 'TRANSFORM_BUSY')
          deps.metrics?.transforms.inc({ result: 'busy' })
        throw error
      }
    },
  }
}

export type TransformService = ReturnType<typeof createTransformService>
