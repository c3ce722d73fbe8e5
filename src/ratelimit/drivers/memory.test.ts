import { describe, expect, it } from 'vitest'
import { describeRateLimiter } from '../../../test/contracts/rate-limiter.contract.js'
import { createMemoryRateLimiter } from './memory.js'

function fakeClock(start = 1_700_000_000_000) {
  let now = start
  return { now: () => now, wait: async (ms: number) => void (now += ms) }
}

describeRateLimiter(
  'memory',
  () => {
    const clock = fakeClock()
    return { limiter: createMemoryRateLimiter({ now: clock.now, maxKeys: 1000 }), wait: clock.wait }
  },
  { windowMs: 60_000, slackMs: 0, slotTtlMs: 30_000 },
)

// A window that does not divide evenly by the limit: the float sums must still land on whole units.
describeRateLimiter(
  'memory, windowMs / limit not whole',
  () => {
    const clock = fakeClock()
    return { limiter: createMemoryRateLimiter({ now: clock.now, maxKeys: 1000 }), wait: clock.wait }
  },
  { windowMs: 1_001, slackMs: 0, slotTtlMs: 7 },
)

describe('memory rate limiter', () => {
  const rule = { name: 'r', limit: 3, windowMs: 1000 }

  it('with one unit per 333.3 ms, allows the 4th request exactly when a unit is back', async () => {
    const clock = fakeClock()
    const limiter = createMemoryRateLimiter({ now: clock.now })
    for (let i = 0; i < 3; i++) expect((await limiter.consume('k', rule)).allowed).toBe(true)
    const refused = await limiter.consume('k', rule)
    expect(refused.retryAfterMs).toBe(334)
    await clock.wait(1000 / 3)
    expect(await limiter.consume('k', rule)).toMatchObject({
      allowed: true,
      remaining: 0,
      resetMs: 1000,
    })
  })

  it('keeps at most maxKeys keys, forgetting the least recently used in the client’s favour', async () => {
    const clock = fakeClock()
    const limiter = createMemoryRateLimiter({ now: clock.now, maxKeys: 2 })
    await limiter.consume('a', rule, 3)
    await limiter.consume('b', rule, 3)
    expect((await limiter.consume('a', rule)).allowed).toBe(false) // touches a: b is now the oldest
    await limiter.consume('c', rule, 3) // evicts b
    expect((await limiter.consume('a', rule)).allowed).toBe(false)
    expect((await limiter.consume('b', rule)).remaining).toBe(2)
  })

  it('forgets a key whose last slot is released', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 1 })
    const slot = await limiter.acquire('a', 1, 1000)
    await slot.release()
    // With a's entry gone, the one LRU place serves b, and a is free again.
    expect((await limiter.acquire('b', 1, 1000)).acquired).toBe(true)
    expect((await limiter.acquire('a', 1, 1000)).acquired).toBe(true)
  })

  it('refuses rule names that could not be a Redis key segment or a header string', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 100 })
    await expect(limiter.consume('k', { ...rule, name: 'a:b' })).rejects.toThrow(RangeError)
    await expect(limiter.consume('k', { ...rule, name: 'qu"ote' })).rejects.toThrow(RangeError)
  })
})
