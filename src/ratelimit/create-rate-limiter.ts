import type { RateLimitConfig } from '../config/schema.js'
import { assertNever } from '../errors/index.js'
import type { BreakerState } from '../lib/circuit-breaker.js'
import { createMemoryRateLimiter } from './drivers/memory.js'
import { createRedisRateLimiter } from './drivers/redis.js'
import type { RateLimiter } from './rate-limiter.js'
import { createResilientLimiter, type LimiterOperation } from './resilient.js'

/** The config schema's slice is the one definition of the choice. */
export type RateLimiterConfig = RateLimitConfig['store']

export interface RateLimiterHooks {
  /** Called on each failure of the shared limiter (redis only); log and count it. */
  onFailure?: (error: unknown, operation: LimiterOperation) => void
  /** Called when the Redis circuit breaker opens, half-opens or closes; log it. */
  onBreaker?: (state: BreakerState) => void
}

export function createRateLimiter(
  config: RateLimiterConfig,
  hooks: RateLimiterHooks = {},
): RateLimiter {
  switch (config.driver) {
    case 'memory':
      return createMemoryRateLimiter()
    case 'redis':
      return createResilientLimiter({
        // ioredis abandons a command at the wrapper's own deadline, so a silent Redis does not
        // collect commands that nobody waits for any more.
        primary: createRedisRateLimiter({
          url: config.url,
          prefix: config.prefix,
          commandTimeoutMs: config.timeoutMs,
        }),
        fallback: createMemoryRateLimiter(),
        policy: config.failurePolicy,
        timeoutMs: config.timeoutMs,
        onFailure: hooks.onFailure,
        breaker:
          config.breakerFailures && config.breakerCooldownMs
            ? { failures: config.breakerFailures, coolDownMs: config.breakerCooldownMs }
            : undefined,
        onBreaker: hooks.onBreaker,
      })
    default:
      return assertNever(config)
  }
}
