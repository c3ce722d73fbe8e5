import { randomUUID } from 'node:crypto'
import { assertAcquirable, assertConsumable } from '../gcra.js'
import { createLeases, type LeaseOptions } from '../leases.js'
import type { RateLimitDecision, RateLimiter, RateLimitRule } from '../rate-limiter.js'
import { acquiredSlot, NOT_ACQUIRED } from '../slot.js'
import { ACQUIRE_LUA, GCRA_LUA, GIVE_BACK_LUA, TAKE_LUA } from './redis-scripts.js'

export interface RedisRateLimiterOptions {
  url: string
  /** Namespaces every key; see the key layout below. */
  prefix?: string
  /** A command without an answer by then is a failure, not a wait. */
  commandTimeoutMs?: number
  /** How cost-1 calls take units several at once (../leases.ts); tests shorten the lease. */
  leases?: LeaseOptions
}

/** The subset of ioredis this driver calls, with the two scripts it defines. */
interface RedisClient {
  pfGcra(
    key: string,
    limit: number,
    windowMs: number,
    cost: number,
  ): Promise<[number, number, number, number]>
  pfTake(
    key: string,
    limit: number,
    windowMs: number,
    max: number,
  ): Promise<[number, number, number, number, string]>
  pfGiveBack(
    key: string,
    limit: number,
    windowMs: number,
    units: number,
    at: string,
  ): Promise<number>
  pfAcquire(key: string, max: number, ttlMs: number, token: string): Promise<number>
  zrem(key: string, member: string): Promise<number>
  quit(): Promise<unknown>
  disconnect(): void
}

const DEFAULT_PREFIX = 'pixelflow:rl:'

/**
 * One limit for the whole fleet, in Redis. Key layout, under `prefix`:
 *   r:<rule name>:<key>  GCRA theoretical arrival time (string, ms), expires when replenished
 *   c:<key>              concurrency slots (sorted set: token → expiry ms)
 * A cost-1 call spends a unit of a lease (../leases.ts): TAKE_LUA takes several at once for a
 * busy key and GIVE_BACK_LUA returns those unspent after 50 ms, so one round trip serves many
 * requests and the limit stays exact. Other costs are one GCRA_LUA call each. Every call is an
 * EVALSHA (ioredis falls back to EVAL after a NOSCRIPT). Auto-pipelining sends the calls made in
 * one event-loop turn as one write. Scripts Redis lost (a restart, SCRIPT FLUSH) are loaded again
 * for pipelined calls too (test/integration/ratelimit.redis.test.ts).
 * ioredis is imported when this factory runs, so a deployment without Redis never loads it.
 */
export function createRedisRateLimiter(options: RedisRateLimiterOptions): RateLimiter {
  const prefix = options.prefix ?? DEFAULT_PREFIX
  const client = connect(options)
  // Callers see the failure on their own call; this only stops an unhandled rejection.
  client.catch(() => {})
  const leases = createLeases(
    {
      async take(gcraKey, rule, max) {
        const redis = await client
        const [granted, remaining, resetMs, retryAfterMs, at] = await redis.pfTake(
          gcraKey,
          rule.limit,
          rule.windowMs,
          max,
        )
        return { granted, remaining, resetMs, retryAfterMs, at }
      },
      async giveBack(gcraKey, rule, units, at) {
        await (await client).pfGiveBack(gcraKey, rule.limit, rule.windowMs, units, at)
      },
    },
    options.leases,
  )

  const gcraKeyOf = (key: string, rule: RateLimitRule) => `${prefix}r:${rule.name}:${key}`

  return {
    driver: 'redis',
    spendHeld: (key, rule) => leases.spendHeld(gcraKeyOf(key, rule)),
    async consume(key, rule, cost = 1): Promise<RateLimitDecision> {
      assertConsumable(rule, cost)
      const gcraKey = gcraKeyOf(key, rule)
      if (cost === 1) return leases.consume(gcraKey, rule)
      // Any other cost reads or spends the shared state whole: what this process holds goes back first.
      await leases.release(gcraKey)
      const redis = await client
      const [allowed, remaining, resetMs, retryAfterMs] = await redis.pfGcra(
        gcraKey,
        rule.limit,
        rule.windowMs,
        cost,
      )
      return { allowed: allowed === 1, limit: rule.limit, remaining, resetMs, retryAfterMs }
    },
    async acquire(key, max, ttlMs) {
      assertAcquirable(max, ttlMs)
      const redis = await client
      const slotsKey = `${prefix}c:${key}`
      const token = randomUUID()
      if ((await redis.pfAcquire(slotsKey, max, ttlMs, token)) !== 1) return NOT_ACQUIRED
      return acquiredSlot(async () => void (await redis.zrem(slotsKey, token)))
    },
    async close() {
      await leases.close()
      const redis = await client.catch(() => null)
      // quit waits for replies in flight; when Redis is gone it is refused at once, so drop the socket.
      if (redis) await redis.quit().catch(() => redis.disconnect())
    },
  }
}

/**
 * Fails fast rather than queueing: with the offline queue off, a command while disconnected is
 * rejected at once, and commandTimeout bounds one sent into a silent socket. A hanging limiter
 * would stall every request (fastify/fastify-rate-limit#84). ioredis keeps reconnecting in the
 * background (default retryStrategy), so the driver recovers when Redis comes back.
 */
async function connect(options: RedisRateLimiterOptions): Promise<RedisClient> {
  const { Redis } = await import('ioredis')
  const timeoutMs = options.commandTimeoutMs ?? 250
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    commandTimeout: timeoutMs,
    connectTimeout: Math.max(1_000, timeoutMs * 4),
  })
  // Errors reach callers as rejected commands (the resilient wrapper reports them); without a
  // listener ioredis would also print every reconnect failure.
  redis.on('error', () => {})
  redis.defineCommand('pfGcra', { numberOfKeys: 1, lua: GCRA_LUA })
  redis.defineCommand('pfTake', { numberOfKeys: 1, lua: TAKE_LUA })
  redis.defineCommand('pfGiveBack', { numberOfKeys: 1, lua: GIVE_BACK_LUA })
  redis.defineCommand('pfAcquire', { numberOfKeys: 1, lua: ACQUIRE_LUA })
  // Wait for the first connection so the first command is not refused as "offline"; if it
  // fails, commands fail fast until a background reconnect succeeds.
  await redis.connect().catch(() => {})
  return redis as unknown as RedisClient
}
