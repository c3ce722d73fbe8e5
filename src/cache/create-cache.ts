import type { CacheConfig } from '../config/schema.js'
import type { BreakerState } from '../lib/circuit-breaker.js'
import type { Cache } from './cache.js'
import { createMemoryCache } from './drivers/memory-lru.js'
import { createRedisCache } from './drivers/redis.js'

export interface CacheHooks {
  /** Redis failures never fail a read; they are reported here (e.g. a logger's warn). */
  onError?: (error: unknown) => void
  /** The Redis circuit breaker opened, half-opened or closed. */
  onBreaker?: (state: BreakerState) => void
}

/** Async because the Redis driver imports ioredis lazily and waits briefly for its subscription. */
export async function createCache<V>(
  config: CacheConfig,
  hooks: CacheHooks = {},
): Promise<Cache<V>> {
  switch (config.driver) {
    case 'memory':
      return createMemoryCache<V>({ maxEntries: config.maxEntries, ttlMs: config.ttlMs })
    case 'redis':
      return createRedisCache<V>({
        url: config.url,
        prefix: config.prefix,
        // One channel per prefix: processes that share keys share their invalidations.
        channel: `${config.prefix}invalidate`,
        ttlMs: config.ttlMs,
        l1: { maxEntries: config.maxEntries, ttlMs: config.l1TtlMs },
        onError: hooks.onError,
        breakerFailures: config.breakerFailures,
        breakerCooldownMs: config.breakerCooldownMs,
        onBreaker: hooks.onBreaker,
      })
  }
}
