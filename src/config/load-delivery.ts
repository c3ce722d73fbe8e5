import { availableParallelism } from 'node:os'
import { type Env, list, pairs } from './values.js'

/**
 * The delivery slice: URL signing, on-the-fly transforms and the CDN purger. Values stay strings
 * here; loadConfig converts and validates them against the schema with everything else.
 */
export function deliveryFromEnv(env: Env): unknown {
  return {
    signingKeys: pairs(env.PIXELFLOW_URL_SIGNING_KEYS).map(([kid, secret]) => ({ kid, secret })),
    signedUrlTtlSeconds: env.PIXELFLOW_SIGNED_URL_TTL_SECONDS,
    unsignedPresets: list(env.PIXELFLOW_UNSIGNED_PRESETS) ?? [],
    transforms: {
      maxOutputPixels: env.PIXELFLOW_TRANSFORM_MAX_PIXELS,
      maxDimension: env.PIXELFLOW_TRANSFORM_MAX_DIMENSION,
      maxDpr: env.PIXELFLOW_TRANSFORM_MAX_DPR,
      // Two per core: a render waits on the store (the original in, the result out) part of its
      // time; bench/delivery measured cores × 2 at 1.00× ipx where cores alone gave 0.77×.
      concurrency: env.PIXELFLOW_TRANSFORM_CONCURRENCY ?? availableParallelism() * 2,
      maxQueued: env.PIXELFLOW_TRANSFORM_QUEUE,
      lockTtlMs: env.PIXELFLOW_TRANSFORM_LOCK_TTL_MS,
      budgetBytes: env.PIXELFLOW_DERIVED_BUDGET_BYTES,
      budgetSweepMs: env.PIXELFLOW_DERIVED_BUDGET_SWEEP_MS,
      redisUrl: env.PIXELFLOW_REDIS_URL || undefined,
      redisPrefix: env.PIXELFLOW_REDIS_PREFIX,
    },
    purge: purge(env),
  }
}

function purge(env: Env): unknown {
  const driver = env.PIXELFLOW_CDN_PURGE ?? 'none'
  if (driver === 'nginx')
    return {
      driver,
      cacheDir: env.PIXELFLOW_NGINX_CACHE_DIR,
      levels: env.PIXELFLOW_NGINX_CACHE_LEVELS,
    }
  if (driver === 'cloudfront')
    return {
      driver,
      distributionId: env.PIXELFLOW_CLOUDFRONT_DISTRIBUTION_ID,
      endpoint: env.PIXELFLOW_CLOUDFRONT_ENDPOINT || undefined,
      batchMs: env.PIXELFLOW_CLOUDFRONT_BATCH_MS,
    }
  return { driver }
}
