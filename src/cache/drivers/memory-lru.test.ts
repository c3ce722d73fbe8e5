import { describe, expect, it } from 'vitest'
import { describeCache } from '../../../test/contracts/cache.contract.js'
import { createMemoryCache } from './memory-lru.js'

describeCache('memory-lru', () => createMemoryCache({ maxEntries: 100, ttlMs: 60_000 }))

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
})
