import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { Image } from '../domain/image.js'
import { createTransformSigner, type SigningKey } from '../domain/signed-urls.js'
import type { DecodeBudget } from '../imaging/decode-budget.js'
import { createCdnPurge } from '../transforms/cdn-purge.js'
import { createMemoryLocks } from '../transforms/locks/memory.js'
import { createRedisLocks } from '../transforms/locks/redis.js'
import { createTransformService } from '../transforms/transform-service.js'
import type { Deps } from './deps.js'

/**
 * On-the-fly transforms for the API role: the render service with its single-flight locks (Redis
 * when PIXELFLOW_REDIS_URL is set, so API processes render a result once between them), the
 * transform signer on the URL-signing keys, and the CDN purge a delete or an erasure runs.
 */
export async function createTransforms(
  config: Config,
  deps: Pick<Deps, 'store' | 'metrics'>,
  signingKeys: readonly SigningKey[],
  logger: Logger,
  /** Shared with this process's workers, when it runs them (pixelflow.ts). */
  decodeBudget: DecodeBudget,
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
    decodeBudget,
  })
  const signer = createTransformSigner(signingKeys)
  const cdn = await createCdnPurge(config, deps.store, signingKeys, logger)
  return {
    api: { service, signer, unsignedPresets },
    /** For deletes and erasures: a failed purge is logged, never fails them. */
    purge: (image: Pick<Image, 'id' | 'variants'>) => cdn.purge(image),
    async close(): Promise<void> {
      await Promise.allSettled([cdn.close(), locks.close()])
    },
  }
}
