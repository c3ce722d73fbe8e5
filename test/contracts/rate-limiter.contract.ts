import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RateLimiter, RateLimitRule } from '../../src/ratelimit/rate-limiter.js'

export interface RateLimiterHarness {
  limiter: RateLimiter
  /** Lets `ms` pass for the limiter: a fake clock moves, a real one sleeps. */
  wait(ms: number): Promise<void>
}

export interface RateLimiterContractOptions {
  /** A real clock needs a window long enough that the test's own round trips replenish nothing. */
  windowMs: number
  /** How far a real clock may run past what a test waited; 0 for a fake clock, and then every figure is exact. */
  slackMs: number
  /** Ttl of the slot that the expiry test never releases. */
  slotTtlMs: number
}

const LIMIT = 5

/** The RateLimiter port's promises (src/ratelimit/rate-limiter.ts), run against every driver. */
export function describeRateLimiter(
  name: string,
  create: () => Promise<RateLimiterHarness> | RateLimiterHarness,
  options: RateLimiterContractOptions,
) {
  const { windowMs, slackMs, slotTtlMs } = options
  const interval = windowMs / LIMIT
  const rule: RateLimitRule = { name: 'contract', limit: LIMIT, windowMs }

  /** Exact with a fake clock; within `slackMs` below the ideal with a real one, as time only moves forward. */
  function expectAbout(actual: number, ideal: number) {
    expect(actual).toBeLessThanOrEqual(Math.ceil(ideal))
    expect(actual).toBeGreaterThanOrEqual(Math.ceil(ideal) - slackMs)
  }

  describe(`RateLimiter contract: ${name}`, () => {
    let harness: RateLimiterHarness
    let limiter: RateLimiter
    let key: string
    beforeEach(async () => {
      harness = await create()
      limiter = harness.limiter
      key = `k-${randomUUID()}`
    })
    afterEach(async () => {
      await limiter.close()
    })

    async function spend(count: number, k = key, r = rule) {
      const decisions = []
      for (let i = 0; i < count; i++) decisions.push(await limiter.consume(k, r))
      return decisions
    }

    it('allows exactly N per window, then refuses with retryAfterMs > 0', async () => {
      const decisions = await spend(LIMIT + 1)
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false])
      const refused = decisions[LIMIT]!
      expect(refused).toMatchObject({ allowed: false, limit: LIMIT, remaining: 0 })
      expect(refused.retryAfterMs).toBeGreaterThan(0)
      expectAbout(refused.retryAfterMs, interval)
      expectAbout(refused.resetMs, windowMs)
    })

    it('counts remaining down; resetMs is the time until the burst is whole again', async () => {
      const decisions = await spend(LIMIT)
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0])
      expect(decisions.every((d) => d.retryAfterMs === 0 && d.limit === LIMIT)).toBe(true)
      expectAbout(decisions[0]!.resetMs, interval)
      expectAbout(decisions[LIMIT - 1]!.resetMs, windowMs)
    })

    it('replenishes one unit every windowMs / N (GCRA), not a whole window at once', async () => {
      await spend(LIMIT)
      await harness.wait(interval)
      expect((await spend(2)).map((d) => d.allowed)).toEqual([true, false])
    })

    it('is allowed again once retryAfterMs has passed, and refusals spend nothing', async () => {
      await spend(LIMIT)
      const refusals = await spend(10)
      expect(refusals.every((d) => !d.allowed)).toBe(true)
      await harness.wait(refusals[0]!.retryAfterMs)
      expect((await limiter.consume(key, rule)).allowed).toBe(true)
    })

    it('gives the whole burst back after a full window', async () => {
      await spend(LIMIT)
      await harness.wait(windowMs)
      expect((await spend(LIMIT)).every((d) => d.allowed)).toBe(true)
    })

    it('keeps keys, and rules of the same key, independent', async () => {
      await spend(LIMIT)
      expect((await limiter.consume(key, rule)).allowed).toBe(false)
      expect((await limiter.consume(`${key}-other`, rule)).remaining).toBe(LIMIT - 1)
      expect((await limiter.consume(key, { ...rule, name: 'contract-other' })).remaining).toBe(
        LIMIT - 1,
      )
    })

    it('spends held units (spendHeld, where a driver has one) within the same N, counting down as one limit', async () => {
      // Large enough for a lease to hold several units, and no unit comes back during the test.
      const held: RateLimitRule = { name: 'contract-held', limit: 40, windowMs: 3_600_000 }
      const allowed: number[] = []
      let fromHeld = 0
      for (let i = 0; i < 60; i++) {
        const local = limiter.spendHeld?.(key, held) ?? null
        if (local) fromHeld++
        const decision = local ?? (await limiter.consume(key, held))
        if (decision.allowed) allowed.push(decision.remaining)
      }
      expect(allowed).toEqual(Array.from({ length: 40 }, (_, i) => 39 - i))
      // A driver that holds units must have served some of them here, or this proved nothing.
      if (limiter.spendHeld) expect(fromHeld).toBeGreaterThan(0)
    })

    it('spends a cost > 1 all or nothing', async () => {
      expect(await limiter.consume(key, rule, 3)).toMatchObject({ allowed: true, remaining: 2 })
      const refused = await limiter.consume(key, rule, 3)
      expect(refused).toMatchObject({ allowed: false, remaining: 2 })
      expectAbout(refused.retryAfterMs, interval)
      expect(await limiter.consume(key, rule, 2)).toMatchObject({ allowed: true, remaining: 0 })
    })

    it('reports without spending for cost 0, and rejects a cost that could never be allowed', async () => {
      await spend(2)
      expect(await limiter.consume(key, rule, 0)).toMatchObject({ allowed: true, remaining: 3 })
      expect((await spend(3)).every((d) => d.allowed)).toBe(true)
      await expect(limiter.consume(key, rule, LIMIT + 1)).rejects.toThrow(RangeError)
      await expect(limiter.consume(key, { ...rule, limit: 0 })).rejects.toThrow(RangeError)
    })

    it('holds at most max concurrency slots; a release frees exactly one', async () => {
      const [a, b, c] = [
        await limiter.acquire(key, 2, 60_000),
        await limiter.acquire(key, 2, 60_000),
        await limiter.acquire(key, 2, 60_000),
      ]
      expect([a.acquired, b.acquired, c.acquired]).toEqual([true, true, false])
      await c.release() // not acquired: frees nothing
      await a.release()
      await a.release() // twice: must not free b's slot
      expect((await limiter.acquire(key, 2, 60_000)).acquired).toBe(true)
      expect((await limiter.acquire(key, 2, 60_000)).acquired).toBe(false)
      expect((await limiter.acquire(`${key}-other`, 2, 60_000)).acquired).toBe(true)
    })

    it('frees the slot of a holder that never releases once its ttl has passed', async () => {
      expect((await limiter.acquire(key, 1, slotTtlMs)).acquired).toBe(true)
      expect((await limiter.acquire(key, 1, slotTtlMs)).acquired).toBe(false)
      await harness.wait(slotTtlMs + 1)
      expect((await limiter.acquire(key, 1, slotTtlMs)).acquired).toBe(true)
    })
  })
}
