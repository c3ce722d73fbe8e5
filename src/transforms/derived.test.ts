import { describe, expect, it } from 'vitest'
import { concurrentMisses } from '../../test/contracts/derived-cache.scene.js'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { createLocalDiskStore } from '../storage/drivers/local-disk.js'
import { readAll } from '../storage/read-all.js'
import { createDerivedCache, derivedKeys } from './derived.js'
import { createMemoryLocks } from './locks/memory.js'

const tempDir = useTempDirs('pixelflow-derived-')

describe('derived cache', () => {
  it('renders a new result once for 30 concurrent requests in one process and stores it', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    const { renders, bodies, kinds } = await concurrentMisses(store, [createMemoryLocks()], 30)
    expect(renders).toBe(1)
    expect(new Set(bodies)).toEqual(new Set(['rendered-bytes']))
    expect(kinds.filter((k) => k === 'rendered')).toHaveLength(1)
    expect(await store.head('images/x/t/a/b.webp')).toMatchObject({ size: 14 })
  })

  it('renders once across caches that share a lock holder, like processes on one Redis', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    const shared = createMemoryLocks()
    const { renders, bodies } = await concurrentMisses(store, [shared, shared, shared], 30)
    expect(renders).toBe(1)
    expect(new Set(bodies)).toEqual(new Set(['rendered-bytes']))
  })

  it('renders once per process without a shared lock: each process single-flights itself', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    const locks = [createMemoryLocks(), createMemoryLocks()]
    const { renders } = await concurrentMisses(store, locks, 20)
    expect(renders).toBeLessThanOrEqual(2)
  })

  it('serves a stored result without rendering, after a restart', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    await store.put('images/x/t/a/b.webp', Buffer.from('earlier'))
    const cache = createDerivedCache({ store, locks: createMemoryLocks(), lockTtlMs: 1000 })
    const result = await cache.get('images/x/t/a/b.webp', async () => {
      throw new Error('must not render')
    })
    expect(result.kind).toBe('stored')
    expect(String(await readAll(result.body as never))).toBe('earlier')
  })

  it('a failed render is not stored and the next request renders again', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    const cache = createDerivedCache({ store, locks: createMemoryLocks(), lockTtlMs: 1000 })
    await expect(
      cache.get('k/t/a/b.png', async () => Promise.reject(new Error('x'))),
    ).rejects.toThrow('x')
    expect(await store.head('k/t/a/b.png')).toBeNull()
    const again = await cache.get('k/t/a/b.png', async () => Buffer.from('ok'))
    expect(again.kind).toBe('rendered')
  })

  it('names a result by its canonical options, readable back for the purger', () => {
    const key = derivedKeys.of('01abc', 'w:300,f:webp', 'DIGEST', 'webp')
    expect(key).toMatch(/^images\/01abc\/t\/[A-Za-z0-9_-]+\/DIGEST\.webp$/)
    expect(derivedKeys.canonicalOf(key)).toBe('w:300,f:webp')
    expect(derivedKeys.canonicalOf('images/01abc/original')).toBeNull()
  })
})
