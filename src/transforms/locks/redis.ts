import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
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
 * every new transform while Redis is down. ioredis is imported when this factory runs, as in the
 * other Redis drivers, so a process without Redis never loads it.
 */
export function createRedisLocks(options: RedisLockOptions): RenderLocks {
  const client = createClient(options)
  // Commands wait for the first connection (or its failure, after which they fail fast).
  const connected = client.then((redis) =>
    redis.connect().then(
      () => redis,
      () => redis,
    ),
  )
  const name = (key: string) => `${options.prefix}render-lock:${key}`
  return {
    driver: 'redis',
    async acquire(key, ttlMs) {
      const redis = await connected
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
      // Not after the first connection: a Redis that never answers must not hold up a shutdown.
      const redis = await client
      redis.disconnect()
    },
  }
}

async function createClient(options: RedisLockOptions): Promise<Redis> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(options.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs ?? 500,
  })
  redis.on('error', () => {}) // each failed command is handled where it is made
  return redis
}
