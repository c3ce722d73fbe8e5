import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisOptions } from 'ioredis'
import { type BreakerState, createCircuitBreaker } from '../../lib/circuit-breaker.js'
import type { Cache } from '../cache.js'
import { createEntryLru, type Entry, type FetchOptions, type LruOptions } from '../entry-lru.js'
import { listenForInvalidations } from './redis-bus.js'
import { createRedisTier, type RedisTier } from './redis-tier.js'

export interface RedisCacheOptions {
  url: string
  /** Namespaces this cache's keys in Redis. */
  prefix: string
  /** Pub/sub channel for invalidations: every process sharing `prefix` must use the same one. */
  channel: string
  /** Default TTL of L2 (Redis) entries. */
  ttlMs: number
  /** The in-process tier; its TTL bounds how stale it can get while the subscriber is down. */
  l1: LruOptions
  /** How long a Redis command may take before a read falls back to L1 and the loader. */
  commandTimeoutMs?: number
  /** How long the factory waits for the first subscription before starting without one. */
  connectWaitMs?: number
  /** Redis failures never fail a read; they are reported here (default: ignored). */
  onError?: (error: unknown) => void
  /**
   * Consecutive failed commands that open the circuit breaker, and how long it stays open: reads
   * then go straight to L1 and the loader instead of waiting commandTimeoutMs on a silent Redis.
   * Both unset: no breaker.
   */
  breakerFailures?: number
  breakerCooldownMs?: number
  /** Told when the breaker opens, half-opens or closes. */
  onBreaker?: (state: BreakerState) => void
}

interface LoadContext<V> {
  load: () => Promise<V | null>
  ttlMs: number
}

/**
 * L1 (in-process LRU, single-flight) over L2 (Redis, JSON values with PX TTLs). Writes publish
 * the key; every process drops it from its L1. `get` does not fill L1 (it has no single-flight
 * slot to guard against racing invalidations); `getOrLoad`, the hot path, does.
 */
export async function createRedisCache<V>(options: RedisCacheOptions): Promise<Cache<V>> {
  const { Redis } = await import('ioredis')
  const { commandTimeoutMs = 250, connectWaitMs = 1000, onError = () => {} } = options
  const origin = randomUUID()
  const client = new Redis(options.url, clientOptions(commandTimeoutMs)).on('error', onError)
  const subscriber = new Redis(options.url, {
    ...clientOptions(commandTimeoutMs),
    autoResubscribe: false,
  })
  subscriber.on('error', onError)
  const breaker =
    options.breakerFailures && options.breakerCooldownMs
      ? createCircuitBreaker({
          failureThreshold: options.breakerFailures,
          coolDownMs: options.breakerCooldownMs,
          onStateChange: options.onBreaker,
        })
      : undefined
  const l2 = createRedisTier<V>(client, {
    prefix: options.prefix,
    channel: options.channel,
    origin,
    onError,
    breaker,
  })
  const l1 = createEntryLru<V, LoadContext<V>>(options.l1, (key, context, l1Options) =>
    fill(l2, key, context, l1Options),
  )
  const l1Ttl = (ttlMs: number) => Math.min(options.l1.ttlMs, ttlMs)
  const subscribed = listenForInvalidations(subscriber, {
    channel: options.channel,
    origin,
    onError,
    onInvalidate: (key) => l1.delete(key),
    onSubscribed: () => l1.clear(),
  })
  // With Redis up, both connections are live before the first read: L2 answers and
  // invalidations are heard. With Redis down we start anyway, L1-only, and catch up when it
  // comes back. (Not events.once: it rejects on 'error', and a down Redis must not fail startup.)
  const ready = new Promise((resolve) => client.once('ready', resolve))
  await Promise.race([
    Promise.all([ready, subscribed]),
    sleep(connectWaitMs, undefined, { ref: false }),
  ])

  return {
    driver: 'redis',
    async get(key) {
      const hit = l1.get(key)
      return hit ? hit.value : (await l2.read(key))?.value
    },
    // L1 changes only after the Redis write: a local load that read the old L2 value before the
    // write landed is then aborted (see entry-lru.ts), and our subscriber skips our own publish.
    async set(key, value, ttlMs = options.ttlMs) {
      try {
        await l2.write(key, value, ttlMs)
      } finally {
        l1.set(key, { value }, { ttl: l1Ttl(ttlMs) })
      }
    },
    async delete(key) {
      try {
        await l2.write(key, undefined, 0)
      } finally {
        l1.delete(key)
      }
    },
    async getOrLoad(key, load, ttlMs = options.ttlMs) {
      const entry = await l1.fetch(key, { context: { load, ttlMs }, ttl: l1Ttl(ttlMs) })
      return entry ? entry.value : null
    },
    async close() {
      l1.clear()
      await Promise.allSettled([client.quit(), subscriber.quit()])
      client.disconnect()
      subscriber.disconnect()
    },
  }
}

/** An L1 miss: L2, else the loader, whose value reaches L2 only if no write happened meanwhile. */
async function fill<V>(
  l2: RedisTier<V>,
  key: string,
  { load, ttlMs }: LoadContext<V>,
  l1Options: FetchOptions<V, LoadContext<V>>,
): Promise<Entry<V> | undefined> {
  const seen = await l2.read(key)
  if (seen?.value !== undefined) {
    // The L1 copy must not outlive the L2 entry it came from (PTTL is -1 for "no expiry").
    if (seen.ttlMs > 0) l1Options.ttl = Math.min(l1Options.ttl ?? seen.ttlMs, seen.ttlMs)
    return { value: seen.value }
  }
  const value = await load()
  if (value === null || value === undefined) return undefined
  // Redis did not answer the read, so no generation is known and no write can be ruled out:
  // the value stays in this process's L1 only.
  if (seen) await l2.fill(key, value, ttlMs, seen.generation)
  return { value }
}

function clientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    // A read must never wait on Redis: fail at once when disconnected, never queue or retry long.
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // Reconnect soon after Redis comes back (the default backs off up to 5 s).
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  }
}
