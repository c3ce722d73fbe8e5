import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { gcra } from './gcra.js'
import { createLeases, type LeaseSource } from './leases.js'
import type { RateLimitRule } from './rate-limiter.js'

const rule: RateLimitRule = { name: 'reads', limit: 100, windowMs: 60_000 }

/**
 * A shared state in memory with the Redis scripts' meaning: GCRA taken one unit at a time, and a
 * give-back of the units' intervals less the time since their take (GIVE_BACK_LUA).
 */
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
      return { granted, ...last, at: String(Date.now()) }
    },
    async giveBack(key, r, units, at) {
      calls.giveBack++
      const back = (units * r.windowMs) / r.limit - (Date.now() - Number(at))
      const tat = tats.get(key)
      if (back > 0 && tat !== undefined) tats.set(key, Math.max(Date.now(), tat - back))
    },
  }
  const free = (key: string, r = rule) => gcra(tats.get(key), Date.now(), r, 0).decision.remaining
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
    // 1, 2, 4 and 8, then 12 at a time (an eighth of the limit), and the last unit alone.
    expect(calls.take).toBe(12)
    const refused = await leases.consume('k', rule)
    expect(refused).toMatchObject({ allowed: false, remaining: 0 })
    expect(refused.retryAfterMs).toBe(600)
  })

  it('spends held units synchronously, and holds back while calls wait for a take', async () => {
    const { source, calls } = sharedState()
    const leases = createLeases(source)
    expect(leases.spendHeld('k')).toBeNull() // nothing held yet: the caller must consume
    await leases.consume('k', rule) // takes 1, spends it: the next take asks for 2
    await leases.consume('k', rule)
    expect(calls.take).toBe(2)
    // One of the two units of that take is still held.
    expect(leases.spendHeld('k')).toMatchObject({ allowed: true, remaining: 97 })
    expect(leases.spendHeld('k')).toBeNull()
    const waiting = leases.consume('k', rule) // starts a take
    expect(leases.spendHeld('k')).toBeNull() // while a take is under way, its waiter comes first
    expect((await waiting).remaining).toBe(96)
    expect(calls.take).toBe(3)
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

  it('gives back less the longer it held the units: what elapsed may be spent by others already', async () => {
    const { source, free } = sharedState()
    const fast = { name: 'reads', limit: 6000, windowMs: 60_000 } // one unit per 10 ms
    const a = createLeases(source, { leaseMs: 50 })
    for (let i = 0; i < 4; i++) await a.consume('k', fast) // 7 taken, 3 unspent: 30 ms
    await vi.advanceTimersByTimeAsync(20)
    const before = free('k', fast)
    await vi.advanceTimersByTimeAsync(30) // a's lease ends 50 ms after its take
    // 30 ms of units less the 50 ms since the take: nothing goes back, and no unit is free but
    // what 30 ms of refill made.
    expect(free('k', fast)).toBe(before + 3)
  })

  it('waits for a take under way on close, and gives its units back too', async () => {
    const { source, free } = sharedState()
    const leases = createLeases(source)
    for (let i = 0; i < 3; i++) await leases.consume('k', rule) // takes 1 and 2
    const fourth = leases.consume('k', rule) // takes 4: 3 unspent once it lands
    await leases.close()
    expect(await fourth).toMatchObject({ allowed: true })
    expect(free('k')).toBe(96)
  })

  it('halves the size of a take each leaseMs without one, down to a single unit', async () => {
    const { source } = sharedState()
    const asked: number[] = []
    const spy: LeaseSource = {
      take: (key, r, max) => {
        asked.push(max)
        return source.take(key, r, max)
      },
      giveBack: source.giveBack,
    }
    const leases = createLeases(spy, { leaseMs: 50 })
    for (let i = 0; i < 4; i++) await leases.consume('k', rule) // asks 1, 2, 4: the next would ask 4
    await vi.advanceTimersByTimeAsync(50) // one lease time without a take: 4 → 2
    await leases.consume('k', rule) // asks 2, and one unit is left
    await vi.advanceTimersByTimeAsync(150) // 2 → 1, then forgotten
    await leases.consume('k', rule)
    expect(asked).toEqual([1, 2, 4, 2, 1])
  })

  it('lets three saturating processes use nearly all of the limit and never more, in any span (random interleavings)', async () => {
    const { source } = sharedState()
    const small = { name: 'reads', limit: 40, windowMs: 400 } // one unit per 10 ms
    const processes = [0, 1, 2].map(() => createLeases(source, { leaseMs: 50 }))
    let seed = 7
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    const allowedAt: number[] = []
    // Each step, a random process calls (a burst) and time moves on: demand far past the limit.
    for (let step = 0; step < 3_000; step++) {
      await vi.advanceTimersByTimeAsync(1 + Math.floor(random() * 4))
      const leases = processes[Math.floor(random() * 3)]!
      const burst = 1 + Math.floor(random() * 6)
      const decisions = await Promise.all(
        Array.from({ length: burst }, () => leases.consume('k', small)),
      )
      for (const d of decisions) if (d.allowed) allowedAt.push(Date.now())
    }
    // The leases waste little of the limit (units held elsewhere, early refusals)...
    const span = allowedAt.at(-1)! - allowedAt[0]!
    expect(allowedAt.length).toBeGreaterThan(0.95 * (small.limit + span / 10))
    // ...and never exceed it: in any span [a, b], at most a burst plus one unit per interval.
    for (let i = 0; i < allowedAt.length; i++)
      for (let j = i; j < allowedAt.length; j++) {
        const bound = small.limit + (allowedAt[j]! - allowedAt[i]!) / 10
        if (j - i + 1 > bound + 1e-9)
          throw new Error(`${j - i + 1} allowed in ${allowedAt[j]! - allowedAt[i]!} ms`)
      }
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
