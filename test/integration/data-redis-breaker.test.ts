import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisCache } from '../../src/cache/drivers/redis.js'
import { createRateLimiter } from '../../src/ratelimit/create-rate-limiter.js'
import type { RateLimiter } from '../../src/ratelimit/rate-limiter.js'
import { eventually } from '../fixtures/eventually.js'
import { HAS_REDIS_SERVER, type OwnRedis, ownRedis } from './fixtures/own-redis.js'

if (!HAS_REDIS_SERVER) console.info('data-redis-breaker.test.ts skipped: no redis-server on PATH')

const TIMEOUT_MS = 200
const FAILURES = 3
const COOL_DOWN_MS = 400
/** "Within a few ms": far below the timeout every call used to wait out. */
const FAST_MS = 25

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now()
  const value = await call()
  return { ms: performance.now() - started, value }
}

/**
 * Issue 11: while Redis does not answer, every request waited out the timeout (a frozen Redis,
 * SIGSTOP: the socket stays open, nothing answers). After FAILURES consecutive failures the
 * breaker opens: calls skip Redis at once for COOL_DOWN_MS, then one probe decides. The server
 * is this test's own redis-server, frozen, killed and restarted.
 */
describe.skipIf(!HAS_REDIS_SERVER)('Redis circuit breaker', () => {
  let redis: OwnRedis
  beforeAll(async () => {
    redis = await ownRedis()
    await redis.start()
  })
  afterAll(async () => {
    redis.thaw()
    await redis.kill()
  })

  describe('rate limiter (fail open)', () => {
    const rule = { name: 'breaker', limit: 3, windowMs: 3_600_000 }
    const limiter = (): RateLimiter =>
      createRateLimiter({
        driver: 'redis',
        url: redis.url,
        prefix: `pf-breaker-${randomUUID()}:`,
        failurePolicy: 'open',
        timeoutMs: TIMEOUT_MS,
        breakerFailures: FAILURES,
        breakerCooldownMs: COOL_DOWN_MS,
      })

    it('answers in a few ms once open while Redis is frozen, and is shared again after', async () => {
      const prefix = `pf-breaker-${randomUUID()}:`
      const make = () =>
        createRateLimiter({
          driver: 'redis',
          url: redis.url,
          prefix,
          failurePolicy: 'open',
          timeoutMs: TIMEOUT_MS,
          breakerFailures: FAILURES,
          breakerCooldownMs: COOL_DOWN_MS,
        })
      const a = make()
      const b = make()
      /** What `a` consumes, `b` sees: both decide on Redis. */
      const shared = () =>
        eventually(
          async () => {
            const key = `shared-${randomUUID()}`
            for (let i = 0; i < rule.limit; i++) await a.consume(key, rule)
            expect((await b.consume(key, rule)).allowed).toBe(false)
          },
          { timeoutMs: 10_000, intervalMs: COOL_DOWN_MS, message: 'the limit is shared' },
        )
      try {
        await shared() // both connections are up before Redis freezes
        redis.freeze()
        // The first FAILURES calls wait out the timeout and fall back to the local limiter…
        for (let i = 0; i < FAILURES; i++) {
          const { ms, value } = await timed(() => a.consume(`k${i}`, rule))
          expect(value.allowed).toBe(true)
          expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20)
        }
        // …then the breaker is open: no call waits for Redis.
        for (let i = 0; i < 20; i++) {
          const { ms, value } = await timed(() => a.consume(`open-${i}`, rule))
          expect(value.allowed).toBe(true)
          expect(ms, `call ${i} while open`).toBeLessThan(FAST_MS)
        }
        redis.thaw()
        // After the cool-down a probe reaches Redis and closes the breaker: shared again.
        await shared()
      } finally {
        redis.thaw()
        await Promise.all([a.close(), b.close()])
      }
    }, 30_000)

    it('stays fast with Redis killed, and recovers after a restart', async () => {
      const a = limiter()
      try {
        await redis.kill()
        for (let i = 0; i < FAILURES + 20; i++) await a.consume(`down-${i}`, rule)
        const { ms } = await timed(() => a.consume('down-last', rule))
        expect(ms).toBeLessThan(FAST_MS)
        await redis.start()
        // Recovered: a call that reaches Redis sees its state (the limit counts down there).
        const key = `back-${randomUUID()}`
        await eventually(
          async () => {
            const results = []
            for (let i = 0; i <= rule.limit; i++) results.push((await a.consume(key, rule)).allowed)
            expect(results.at(-1)).toBe(false)
          },
          { timeoutMs: 10_000, intervalMs: COOL_DOWN_MS, message: 'limiter back on Redis' },
        )
      } finally {
        await a.close()
      }
    }, 30_000)
  })

  describe('metadata cache', () => {
    it('cache misses stop waiting on a frozen Redis once the breaker opens; L2 works again after', async () => {
      const prefix = `pf-breaker-cache-${randomUUID()}:`
      const make = () =>
        createRedisCache<{ n: number }>({
          url: redis.url,
          prefix,
          channel: `${prefix}invalidate`,
          ttlMs: 60_000,
          l1: { maxEntries: 100, ttlMs: 60_000 },
          commandTimeoutMs: TIMEOUT_MS,
          breakerFailures: FAILURES,
          breakerCooldownMs: COOL_DOWN_MS,
        })
      const a = await make()
      const b = await make()
      try {
        await a.set('warm-up', { n: 0 })
        expect(await b.get('warm-up')).toEqual({ n: 0 }) // L2 answers before Redis freezes
        redis.freeze()
        let loads = 0
        const load = async () => ({ n: ++loads })
        for (let i = 0; i < FAILURES; i++) {
          const { ms } = await timed(() => a.getOrLoad(`slow-${i}`, load))
          expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20) // waited out the command timeout
        }
        for (let i = 0; i < 20; i++) {
          const { ms, value } = await timed(() => a.getOrLoad(`fast-${i}`, load))
          expect(value).toEqual({ n: expect.any(Number) })
          expect(ms, `miss ${i} while open`).toBeLessThan(FAST_MS)
        }
        redis.thaw()
        const key = `after-${randomUUID()}`
        await eventually(
          async () => {
            await a.set(key, { n: 42 })
            expect(await b.get(key)).toEqual({ n: 42 })
          },
          { timeoutMs: 10_000, intervalMs: COOL_DOWN_MS, message: 'L2 shared again' },
        )
      } finally {
        redis.thaw()
        await Promise.all([a.close(), b.close()])
      }
    }, 30_000)
  })
})
