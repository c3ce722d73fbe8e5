import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryRateLimiter } from '../../src/ratelimit/drivers/memory.js'
import { createRedisRateLimiter } from '../../src/ratelimit/drivers/redis.js'
import { GCRA_LUA, GIVE_BACK_LUA, TAKE_LUA } from '../../src/ratelimit/drivers/redis-scripts.js'
import type { RateLimiter } from '../../src/ratelimit/rate-limiter.js'
import { createResilientLimiter, RATE_LIMITER_UNAVAILABLE } from '../../src/ratelimit/resilient.js'
import { describeRateLimiter } from '../contracts/rate-limiter.contract.js'
import { eventually } from '../fixtures/eventually.js'
import { hammer } from './fixtures/hammer.js'
import { HAS_REDIS_SERVER, type OwnRedis, ownRedis } from './fixtures/own-redis.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL
if (!REDIS_URL)
  console.info(
    'ratelimit.redis.test.ts skipped: set PIXELFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 to run it',
  )
// Every key of this run lives under its own prefix.
const PREFIX = `pixelflow-test:${randomUUID()}:`

describe.skipIf(!REDIS_URL)('rate limiter on Redis', () => {
  afterAll(async () => {
    // Keys expire by themselves, some only after an hour: leave the shared Redis as we found it.
    const { Redis } = await import('ioredis')
    const redis = new Redis(REDIS_URL!)
    for await (const keys of redis.scanStream({ match: `${PREFIX}*`, count: 500 }))
      if (keys.length) await redis.unlink(...keys)
    await redis.quit()
  })

  describeRateLimiter(
    'redis',
    () => ({
      limiter: createRedisRateLimiter({ url: REDIS_URL!, prefix: PREFIX, commandTimeoutMs: 1_000 }),
      wait: (ms) => sleep(ms),
    }),
    // One unit per 200 ms: far above a round trip even with a busy event loop, short enough to stay quick.
    { windowMs: 1_000, slackMs: 100, slotTtlMs: 300 },
  )

  describe('one limit across 3 OS processes hammering one key', () => {
    const base = () => ({
      url: REDIS_URL,
      prefix: PREFIX,
      key: `shared-${randomUUID()}`,
      concurrency: 8,
    })

    it('allows N in total within one window, not N per process', async () => {
      const rule = { name: 'xproc', limit: 100, windowMs: 3_600_000 }
      const reports = await hammer(3, { ...base(), rule, durationMs: 1_500 })
      const allowed = reports.reduce((sum, r) => sum + r.allowed, 0)
      console.info(
        `3 processes, limit ${rule.limit}/h: allowed ${allowed} of ${reports.map((r) => r.attempts).join(' + ')} attempts`,
      )
      expect(Math.max(...reports.map((r) => r.firstAt))).toBeLessThan(
        Math.min(...reports.map((r) => r.lastAt)),
      ) // they did overlap
      expect(reports.every((r) => r.attempts > rule.limit)).toBe(true)
      expect(allowed).toBeLessThanOrEqual(rule.limit * 1.01 + 1)
      expect(allowed).toBeGreaterThanOrEqual(rule.limit)
    })

    it('holds the rate over several windows: burst + one per windowMs / N', async () => {
      const rule = { name: 'xproc', limit: 20, windowMs: 500 }
      const reports = await hammer(3, { ...base(), rule, durationMs: 2_000 })
      const allowed = reports.reduce((sum, r) => sum + r.allowed, 0)
      const spanMs =
        Math.max(...reports.map((r) => r.lastAt)) - Math.min(...reports.map((r) => r.firstAt))
      const ideal = rule.limit + (rule.limit * spanMs) / rule.windowMs
      console.info(
        `3 processes, ${rule.limit} per ${rule.windowMs} ms over ${spanMs} ms: allowed ${allowed}, GCRA bound ${ideal.toFixed(1)}`,
      )
      expect(allowed).toBeLessThanOrEqual(ideal * 1.01 + 1)
      expect(allowed).toBeGreaterThanOrEqual(
        rule.limit + (rule.limit * 2_000 * 0.9) / rule.windowMs,
      )
    })
  })
})

describe.skipIf(!REDIS_URL)('the lease scripts', () => {
  /**
   * Two processes' calls on one key, straight through the scripts, at one unit per 10 ms. a takes
   * 10 units (100 ms of TAT); 60 ms later b takes 10 from a TAT still ahead of now; then a gives
   * all 10 back. Without a's units, b would have started from now: the TAT must stay at least
   * b's take + 100 ms. Moving it back by a's whole 100 ms would free 6 units b had spent.
   */
  it('a give-back never cancels units another process spent after it: it returns less the time since its take', async () => {
    const { Redis } = await import('ioredis')
    const redis = new Redis(REDIS_URL!)
    redis.defineCommand('take', { numberOfKeys: 1, lua: TAKE_LUA })
    redis.defineCommand('giveBack', { numberOfKeys: 1, lua: GIVE_BACK_LUA })
    redis.defineCommand('gcra', { numberOfKeys: 1, lua: GCRA_LUA })
    const scripts = redis as unknown as Record<string, (...args: unknown[]) => Promise<any>>
    const key = `${PREFIX}r:lease:${randomUUID()}`
    const rule = [6000, 60_000] as const
    try {
      const [, , , , a] = await scripts.take!(key, ...rule, 10)
      await sleep(60)
      const [granted, , , , b] = await scripts.take!(key, ...rule, 10)
      expect(granted).toBe(10)
      await scripts.giveBack!(key, ...rule, 10, a)
      const [, remaining] = await scripts.gcra!(key, ...rule, 0)
      const sinceB = Date.now() - Number(b)
      // b's 10 units still spent, less what refilled since b's take (one unit per 10 ms).
      expect(remaining).toBeLessThanOrEqual(6000 - 10 + Math.floor(sinceB / 10) + 1)
      // A give-back right after a take returns nearly all of it.
      const [, , , , c] = await scripts.take!(key, ...rule, 10)
      const [, low] = await scripts.gcra!(key, ...rule, 0)
      await scripts.giveBack!(key, ...rule, 10, c)
      const [, high] = await scripts.gcra!(key, ...rule, 0)
      expect(high - low).toBeGreaterThanOrEqual(8)
    } finally {
      await redis.quit()
    }
  })
})

describe.skipIf(!REDIS_URL || !HAS_REDIS_SERVER)('resilient limiter when its Redis stops', () => {
  const TIMEOUT_MS = 150
  const MARGIN_MS = 100 // event-loop lag on a busy CI machine; the measured worst case is logged
  const rule = { name: 'outage', limit: 3, windowMs: 60_000 }
  let redis: OwnRedis
  let primary: RateLimiter
  let open: RateLimiter
  let closed: RateLimiter
  const failures: unknown[] = []
  let slowestMs = 0

  beforeAll(async () => {
    redis = await ownRedis()
    await redis.start()
    primary = createRedisRateLimiter({
      url: redis.url,
      prefix: PREFIX,
      commandTimeoutMs: TIMEOUT_MS,
    })
    await primary.consume('warm-up', rule, 0) // connected and the scripts loaded before any deadline counts
    const wrap = (policy: 'open' | 'closed') =>
      createResilientLimiter({
        primary,
        fallback: createMemoryRateLimiter({ maxKeys: 100 }),
        policy,
        timeoutMs: TIMEOUT_MS,
        onFailure: (e) => failures.push(e),
      })
    open = wrap('open')
    closed = wrap('closed')
  })
  afterAll(async () => {
    await Promise.allSettled([open?.close(), closed?.close()])
    await redis?.kill()
    console.info(
      `resilient limiter: slowest call during the outages ${slowestMs.toFixed(1)} ms (timeoutMs ${TIMEOUT_MS})`,
    )
  })

  /** Runs `call`, asserting it settles within the deadline plus a margin; returns its outcome. */
  async function timely<T>(call: () => Promise<T>): Promise<PromiseSettledResult<T>> {
    const started = performance.now()
    const [outcome] = await Promise.allSettled([call()])
    const elapsedMs = performance.now() - started
    slowestMs = Math.max(slowestMs, elapsedMs)
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    return outcome!
  }

  /** Whether `key` was spent in Redis itself: a peek (cost 0) through a fresh client. */
  async function remainingInRedis(key: string): Promise<number> {
    const direct = createRedisRateLimiter({ url: redis.url, prefix: PREFIX })
    try {
      return (await direct.consume(key, rule, 0)).remaining
    } finally {
      await direct.close()
    }
  }

  it('uses the shared limiter while Redis answers', async () => {
    expect((await open.consume('up', rule)).remaining).toBe(2)
    expect(await remainingInRedis('up')).toBe(2)
    expect(failures).toEqual([])
  })

  it('loads its scripts again when Redis lost them, calls of one turn pipelined together', async () => {
    const { Redis } = await import('ioredis')
    const admin = new Redis(redis.url)
    await admin.script('FLUSH')
    await admin.quit()
    // Issued in one turn: auto-pipelining sends them as one batch, which must not fail on NOSCRIPT.
    const decisions = await Promise.all([1, 2, 3].map(() => primary.consume('flushed', rule)))
    expect(decisions.map((d) => d.remaining).sort()).toEqual([0, 1, 2])
    expect(await remainingInRedis('flushed')).toBe(0)
  })

  it('after SIGKILL: open answers from the local limiter, closed throws, both within timeoutMs', async () => {
    await redis.kill()
    const decisions = []
    for (let i = 0; i < 4; i++) decisions.push(await timely(() => open.consume('down', rule)))
    expect(decisions.map((d) => d.status === 'fulfilled' && d.value.allowed)).toEqual([
      true,
      true,
      true,
      false,
    ])
    expect((await timely(() => open.acquire('down', 1, 10_000))).status).toBe('fulfilled')
    for (let i = 0; i < 3; i++) {
      const outcome = await timely(() => closed.consume('down', rule))
      expect(outcome.status === 'rejected' && outcome.reason).toMatchObject({
        code: RATE_LIMITER_UNAVAILABLE,
      })
    }
    expect((await timely(() => closed.acquire('down', 1, 10_000))).status).toBe('rejected')
    expect(failures.length).toBeGreaterThanOrEqual(9)
  })

  it('uses Redis again once it is restarted on the same port', async () => {
    await redis.start()
    // ioredis reconnects on its own schedule (backoff up to 2 s); poll until a call no longer fails.
    let attempt = 0
    const recovered = await eventually(
      async () => {
        const key = `back-${attempt++}`
        const before = failures.length
        await open.consume(key, rule)
        return failures.length === before && key
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'a call answered by Redis again' },
    )
    expect(await remainingInRedis(recovered)).toBe(2)
    expect((await closed.consume('back-closed', rule)).remaining).toBe(2)
  })

  it('a frozen Redis (SIGSTOP: connected, silent) costs each call at most timeoutMs', async () => {
    redis.freeze()
    try {
      const outcome = await timely(() => open.consume('frozen', rule))
      expect(outcome.status === 'fulfilled' && outcome.value.allowed).toBe(true)
      const refused = await timely(() => closed.consume('frozen', rule))
      expect(refused.status === 'rejected' && refused.reason).toMatchObject({
        code: RATE_LIMITER_UNAVAILABLE,
      })
      const slot = await timely(() => open.acquire('frozen', 1, 10_000))
      expect(slot.status === 'fulfilled' && slot.value.acquired).toBe(true)
    } finally {
      redis.thaw()
    }
  })
})
