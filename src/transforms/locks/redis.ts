import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { RenderLocks } from './render-locks.js'

/** Deletes the lock only if it is still ours: after a pause past the TTL another holder may own it. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

export interface RedisLockOptions {
  url: string
  prefix: string
  /** A Redis command slower than this counts as Redis being down. */
  commandTimeoutMs?: number
}

/**
 * Shared across processes: `SET key token NX PX ttl`, released with a compare-and-delete. When
 * Redis does not answer, `acquire` grants the lock: a result may then be rendered twice, which
 * costs CPU but never correctness (its object key is the same), whereas refusing would stop
 * every new transform while Redis is down.
 */
export function createRedisLocks(options: RedisLockOptions): RenderLocks {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs ?? 500,
  })
  redis.on('error', () => {}) // each failed command is handled where it is made
  const connecting = redis.connect().catch(() => {})
  const name = (key: string) => `${options.prefix}render-lock:${key}`
  return {
    driver: 'redis',
    async acquire(key, ttlMs) {
      await connecting
      const token = randomUUID()
      try {
        const ok = await redis.set(name(key), token, 'PX', ttlMs, 'NX')
        if (ok !== 'OK') return null
      } catch {
        return async () => {}
      }
      return async () => {
        await redis.eval(RELEASE, 1, name(key), token).catch(() => {})
      }
    },
    async close() {
      redis.disconnect()
    },
  }
}
