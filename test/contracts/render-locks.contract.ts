import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RenderLocks } from '../../src/transforms/locks/render-locks.js'

/**
 * The RenderLocks promises (src/transforms/locks/render-locks.ts), run against every driver.
 * `create` is called twice per test: two holders that share the driver's state, like two
 * processes on one Redis (the memory driver shares within one instance, so it returns it twice).
 */
export function describeRenderLocks(name: string, create: () => Promise<RenderLocks[]>) {
  describe(`RenderLocks contract: ${name}`, () => {
    let a: RenderLocks
    let b: RenderLocks
    beforeEach(async () => {
      ;[a, b] = (await create()) as [RenderLocks, RenderLocks]
    })
    afterEach(async () => {
      await a.close()
      if (b !== a) await b.close()
    })

    it('grants a key to one holder at a time, and again once it is released', async () => {
      const key = randomUUID()
      const release = await a.acquire(key, 10_000)
      expect(release).not.toBeNull()
      expect(await b.acquire(key, 10_000)).toBeNull()
      expect(await a.acquire(key, 10_000)).toBeNull()
      await release!()
      const again = await b.acquire(key, 10_000)
      expect(again).not.toBeNull()
      await again!()
    })

    it('lets exactly one of many concurrent callers win', async () => {
      const key = randomUUID()
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).acquire(key, 10_000)),
      )
      expect(results.filter(Boolean)).toHaveLength(1)
    })

    it('frees a key by itself after its TTL: a holder that died delays the others only that long', async () => {
      const key = randomUUID()
      expect(await a.acquire(key, 150)).not.toBeNull()
      expect(await b.acquire(key, 150)).toBeNull()
      await sleep(250)
      expect(await b.acquire(key, 10_000)).not.toBeNull()
    })

    it('a late release does not free a lock someone else took after the TTL', async () => {
      const key = randomUUID()
      const stale = await a.acquire(key, 100)
      await sleep(200)
      const current = await b.acquire(key, 10_000)
      expect(current).not.toBeNull()
      await stale!()
      expect(await a.acquire(key, 10_000)).toBeNull()
      await current!()
    })

    it('keeps keys apart', async () => {
      expect(await a.acquire(randomUUID(), 10_000)).not.toBeNull()
      expect(await b.acquire(randomUUID(), 10_000)).not.toBeNull()
    })
  })
}
