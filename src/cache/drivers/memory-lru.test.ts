import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { describeCache, slowLoader } from '../../../test/contracts/cache.contract.js'
import { createMemoryCache } from './memory-lru.js'

describeCache('memory-lru', (now) => createMemoryCache({ maxEntries: 100, ttlMs: 60_000, now }))

/** A clock the test moves; it starts far from 0, which lru-cache would read as "no TTL". */
function fakeClock() {
  let at = 1_700_000_000_000
  return { now: () => at, advance: (ms: number) => void (at += ms) }
}

describe('memory-lru cache', () => {
  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = createMemoryCache<number>({ maxEntries: 2, ttlMs: 60_000 })
    await cache.set('a', 1)
    await cache.set('b', 2)
    await cache.get('a')
    await cache.set('c', 3)
    expect(await cache.get('b')).toBeUndefined()
    expect([await cache.get('a'), await cache.get('c')]).toEqual([1, 3])
  })

  it('keeps an entry for exactly its configured ttl on the given clock', async () => {
    const clock = fakeClock()
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 1_000, now: clock.now })
    await cache.set('k', 'v')
    clock.advance(1_000)
    expect(await cache.get('k')).toBe('v')
    clock.advance(1)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('applies a per-call ttl to getOrLoad, and a later load starts a new one', async () => {
    const clock = fakeClock()
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 60_000, now: clock.now })
    const load = slowLoader('v', 0)
    await cache.getOrLoad('k', load, 100)
    clock.advance(100)
    await cache.getOrLoad('k', load, 100)
    expect(load.calls).toBe(1)
    clock.advance(1)
    await cache.getOrLoad('k', load, 100)
    expect(load.calls).toBe(2)
    clock.advance(100)
    expect(await cache.get('k')).toBe('v')
  })

  it('does not expire anything while the given clock stands still, however long it takes', async () => {
    const clock = fakeClock()
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 5, now: clock.now })
    await cache.set('k', 'v')
    // Real time passes, the injected clock does not: only the injected clock decides.
    await sleep(30)
    expect(await cache.get('k')).toBe('v')
  })

  it('without a clock, expires on real time (the production default)', async () => {
    const cache = createMemoryCache<string>({ maxEntries: 10, ttlMs: 5 })
    await cache.set('k', 'v')
    expect(await cache.get('k')).toBe('v')
    // The one real wait here: it is the default clock itself that is under test.
    await sleep(30)
    expect(await cache.get('k')).toBeUndefined()
  })
})
