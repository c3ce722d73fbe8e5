import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Cache } from '../../src/cache/cache.js'

/** A loader that counts its calls and answers after `ms`, so calls can overlap. */
export function slowLoader<V>(value: V | null, ms = 30) {
  const loader = async () => {
    loader.calls++
    await sleep(ms)
    return value
  }
  loader.calls = 0
  return loader
}

export interface CacheContractSetup {
  /**
   * The driver has a tier that keeps time itself (Redis expires PX keys on its own clock, which no
   * fake can move): letting a TTL pass then also waits that long for real.
   */
  sharedTierKeepsTime?: boolean
}

/**
 * The Cache port's promises (src/cache/cache.ts), run against every driver. `create` uses long
 * TTLs and must give `now` to its in-process tier: TTLs pass by moving that fake clock.
 */
export function describeCache(
  name: string,
  create: (now: () => number) => Cache<unknown> | Promise<Cache<unknown>>,
  { sharedTierKeepsTime = false }: CacheContractSetup = {},
) {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache<unknown>
    // Not 0: lru-cache reads a start time of 0 as "no TTL" (see src/cache/entry-lru.ts).
    let at = 1_700_000_000_000
    const now = () => at
    async function pass(ms: number): Promise<void> {
      at += ms
      if (sharedTierKeepsTime) await sleep(ms)
    }
    beforeEach(async () => {
      cache = await create(now)
    })
    afterEach(async () => {
      await cache.close()
    })

    it('answers undefined for a missing key', async () => {
      expect(await cache.get('missing')).toBeUndefined()
    })

    it('round-trips JSON values, falsy ones included, per key', async () => {
      const values: Record<string, unknown> = {
        obj: { id: 'a', sizes: [1, 2], nested: { ok: true } },
        str: 'x',
        zero: 0,
        empty: '',
        no: false,
      }
      for (const [key, value] of Object.entries(values)) await cache.set(key, value)
      for (const [key, value] of Object.entries(values)) expect(await cache.get(key)).toEqual(value)
    })

    it('replaces a value on set', async () => {
      await cache.set('k', { v: 1 })
      await cache.set('k', { v: 2 })
      expect(await cache.get('k')).toEqual({ v: 2 })
    })

    it('expires a value after its ttl', async () => {
      await cache.set('short', 'soon gone', 60)
      await cache.set('long', 'stays')
      expect(await cache.get('short')).toBe('soon gone')
      await pass(59)
      expect(await cache.get('short')).toBe('soon gone')
      await pass(91)
      expect(await cache.get('short')).toBeUndefined()
      expect(await cache.get('long')).toBe('stays')
    })

    it('loads again once a getOrLoad entry has expired', async () => {
      const load = slowLoader('v', 1)
      await cache.getOrLoad('exp', load, 60)
      expect(await cache.getOrLoad('exp', load, 60)).toBe('v')
      expect(load.calls).toBe(1)
      await pass(150)
      expect(await cache.getOrLoad('exp', load, 60)).toBe('v')
      expect(load.calls).toBe(2)
    })

    it('deletes a key, and deleting a missing key is not an error', async () => {
      await cache.set('gone', 'x')
      await cache.delete('gone')
      expect(await cache.get('gone')).toBeUndefined()
      await expect(cache.delete('never-set')).resolves.toBeUndefined()
    })

    it('getOrLoad loads on a miss, caches, and loads again after delete', async () => {
      const load = slowLoader({ id: 'img' }, 1)
      expect(await cache.getOrLoad('img', load)).toEqual({ id: 'img' })
      expect(await cache.getOrLoad('img', load)).toEqual({ id: 'img' })
      expect(await cache.get('img')).toEqual({ id: 'img' })
      expect(load.calls).toBe(1)
      await cache.delete('img')
      await cache.getOrLoad('img', load)
      expect(load.calls).toBe(2)
    })

    it('getOrLoad returns a value put by set without loading', async () => {
      await cache.set('pre', 0)
      const load = slowLoader(1)
      expect(await cache.getOrLoad('pre', load)).toBe(0)
      expect(load.calls).toBe(0)
    })

    it('single-flight: 10 concurrent misses call load once and all get the value', async () => {
      const load = slowLoader({ id: 'hot' }, 50)
      const results = await Promise.all(
        Array.from({ length: 10 }, () => cache.getOrLoad('hot', load)),
      )
      expect(load.calls).toBe(1)
      expect(results).toEqual(Array.from({ length: 10 }, () => ({ id: 'hot' })))
    })

    it('propagates a loader error to every waiting caller and does not cache it', async () => {
      let calls = 0
      const failing = async () => {
        calls++
        await sleep(20)
        throw new Error('db down')
      }
      const attempts = Array.from({ length: 3 }, () => cache.getOrLoad('err', failing))
      for (const attempt of attempts) await expect(attempt).rejects.toThrow('db down')
      expect(calls).toBe(1)
      expect(await cache.get('err')).toBeUndefined()
      expect(await cache.getOrLoad('err', slowLoader('recovered', 1))).toBe('recovered')
    })

    it('returns null for a null load and does not cache it', async () => {
      const load = slowLoader(null, 1)
      expect(await cache.getOrLoad('absent', load)).toBeNull()
      expect(await cache.get('absent')).toBeUndefined()
      expect(await cache.getOrLoad('absent', load)).toBeNull()
      expect(load.calls).toBe(2)
    })

    it('does not cache a load that was in flight when its key was deleted', async () => {
      const stale = slowLoader('read before the write', 80)
      const inFlight = cache.getOrLoad('race', stale)
      await sleep(20)
      await cache.delete('race')
      expect(await inFlight).toBe('read before the write')
      expect(await cache.get('race')).toBeUndefined()
    })

    it('keeps the value of a set made while a load was in flight', async () => {
      const inFlight = cache.getOrLoad('race-set', slowLoader('old', 80))
      await sleep(20)
      await cache.set('race-set', 'new')
      await inFlight
      expect(await cache.get('race-set')).toBe('new')
    })

    it('closes', async () => {
      const other = await create(now)
      await expect(other.close()).resolves.toBeUndefined()
    })
  })
}
