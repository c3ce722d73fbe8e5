import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { createTransformSigner, type SigningKey } from '../domain/signed-urls.js'
import { createPurger } from '../purge/create-purger.js'
import { cachedPaths } from '../transforms/cached-paths.js'
import { createMemoryLocks } from '../transforms/locks/memory.js'
import { createRedisLocks } from '../transforms/locks/redis.js'
import { createTransformService } from '../transforms/transform-service.js'
import type { Deps } from './deps.js'

/**
 * On-the-fly transforms for the API role: the render service with its single-flight locks (Redis
 * when PIXELFLOW_REDIS_URL is set, so API processes render a result once between them), the
 * transform signer on the URL-signing keys, and the CDN purge a delete runs.
 */
export async function createTransforms(
  config: Config,
  deps: Pick<Deps, 'store' | 'metrics'>,
  signingKeys: readonly SigningKey[],
  logger: Logger,
) {
  const { transforms: settings, unsignedPresets } = config.delivery
  const locks = settings.redisUrl
    ? createRedisLocks({ url: settings.redisUrl, prefix: settings.redisPrefix })
    : createMemoryLocks()
  const service = createTransformService({
    store: deps.store,
    locks,
    processing: config.processing,
    limits: config.limits,
    settings,
    metrics: deps.metrics,
  })
  const signer = createTransformSigner(signingKeys)
  const purger = await createPurger(config.delivery.purge, { logger })
  const pathsDeps = {
    store: deps.store,
    presets: config.processing.presets,
    signer,
    unsignedPresets,
  }
  return {
    api: { service, signer, unsignedPresets },
    /** For the image service's delete: a failed purge is logged, never fails the delete. */
    async purge(imageId: string): Promise<void> {
      if (purger.driver === 'none') return
      try {
        await purger.purge(await cachedPaths(pathsDeps, imageId))
      } catch (err) {
        logger.warn({ err, imageId }, 'CDN purge failed: cached copies live until they expire')
      }
    },
    async close(): Promise<void> {
      await Promise.allSettled([purger.close(), locks.close()])
    },
  }
}
