import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { gcra } from './gcra.js'
import { createLeases, type LeaseSource } from './leases.js'
import type { RateLimitRule } from './rate-limiter.js'

const rule: RateLimitRule = { name: 'reads', limit: 100, windowMs: 60_000 }

/** A shared state in memory with the Redis scripts' meaning: GCRA, taken one unit at a time. */
function sharedState() {
  const tats = new Map<string, number>()
  const calls = { take: 0, giveBack: 0 }
  const source: LeaseSource = {
    async take(key, r, max) {
      calls.take++
      let granted = 0
      let last = gcra(tats.get(key), Date.now(), r, 0).decision
      while (granted < max) {
        const step = gcra(tats.get(key), Date.now(), r, 1)
        if (!step.decision.allowed) {
          if (granted === 0) last = step.decision
          break
        }
        tats.set(key, step.tat!)
        last = step.decision
        granted++
      }
      return { granted, ...last }
    },
    async giveBack(key, r, units) {
      calls.giveBack++
      const tat = tats.get(key)
      if (tat !== undefined)
        tats.set(key, Math.max(Date.now(), tat - (units * r.windowMs) / r.limit))
    },
  }
  const free = (key: string) => gcra(tats.get(key), Date.now(), rule, 0).decision.remaining
  return { source, calls, free }
}

describe('createLeases', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('serves a busy key from units taken several at once, with the decisions a plain GCRA gives', async () => {
    const { source, calls } = sharedState()
    const leases = createLeases(source)
    const decisions = []
    for (let i = 0; i < 100; i++) decisions.push(await leases.consume('k', rule))
    expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i))
    expect(decisions.every((d) => d.allowed && d.retryAfterMs === 0)).toBe(true)
    // 1 + 2 + 4 + 8 + 16 + 32 + 37: the lease doubles each time it runs dry at once.
    expect(calls.take).toBe(7)
    const refused = await leases.consume('k', rule)
    expect(refused).toMatchObject({ allowed: false, remaining: 0 })
    expect(refused.retryAfterMs).toBe(600)
  })

  it('makes the calls that arrive during a take wait for it, then takes for all of them at once', async () => {
    const { source, calls } = sharedState()
    const leases = createLeases(source)
    // The first call's take asks for one unit; the nine that come while it runs, for nine.
    const burst = await Promise.all(Array.from({ length: 10 }, () => leases.consume('k', rule)))
    expect(burst.map((d) => d.remaining)).toEqual(Array.from({ length: 10 }, (_, i) => 99 - i))
    expect(calls.take).toBe(2)
  })

  it('never allows more than the shared state granted, however many processes lease from it', async () => {
    const { source } = sharedState()
    const processes = [createLeases(source), createLeases(source), createLeases(source)]
    const rounds = await Promise.all(
      processes.map(async (leases) => {
        let allowed = 0
        for (let i = 0; i < 80; i++) if ((await leases.consume('k', rule)).allowed) allowed++
        return allowed
      }),
    )
    expect(rounds.reduce((a, b) => a + b, 0)).toBe(100)
  })

  it('refuses the waiters a smaller grant cannot serve', async () => {
    const { source } = sharedState()
    const leases = createLeases(source)
    const small = { ...rule, limit: 3 }
    const decisions = await Promise.all(Array.from({ length: 5 }, () => leases.consume('k', small)))
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false])
    expect(decisions[4]).toMatchObject({ remaining: 0, retryAfterMs: 20_000 })
  })

  it('gives unspent units back after leaseMs, and the shared state is whole again', async () => {
    const { source, calls, free } = sharedState()
    const leases = createLeases(source, { leaseMs: 50 })
    for (let i = 0; i < 4; i++) await leases.consume('k', rule) // takes 1, 2, then 4: 3 unspent
    expect(free('k')).toBe(93)
    await vi.advanceTimersByTimeAsync(50)
    expect(calls.giveBack).toBe(1)
    expect(free('k')).toBe(96)
  })

  it('gives everything back on close', async () => {
    const { source, free } = sharedState()
    const leases = createLeases(source)
    for (let i = 0; i < 4; i++) await leases.consume('k', rule)
    await leases.close()
    expect(free('k')).toBe(96)
  })

  it('rejects every waiter of a failed take, and the next call tries again', async () => {
    const { source } = sharedState()
    let down = true
    const flaky: LeaseSource = {
      take: (key, r, max) =>
        down ? Promise.reject(new Error('redis down')) : source.take(key, r, max),
      giveBack: source.giveBack,
    }
    const leases = createLeases(flaky)
    const failed = await Promise.allSettled([leases.consume('k', rule), leases.consume('k', rule)])
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    down = false
    expect(await leases.consume('k', rule)).toMatchObject({ allowed: true, remaining: 99 })
  })
})
