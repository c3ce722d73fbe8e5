import type { Cache } from '../cache.js'
import { createEntryLru, type LruOptions } from '../entry-lru.js'

export type MemoryCacheOptions = LruOptions

type Load<V> = () => Promise<V | null>

/**
 * The embedded default: one in-process LRU. lru-cache's `fetch` gives single-flight, and its
 * abort-on-delete keeps a load that raced a delete from being cached (see entry-lru.ts).
 */
export function createMemoryCache<V>(options: MemoryCacheOptions): Cache<V> {
  const lru = createEntryLru<V, Load<V>>(options, async (_key, load) => {
    const value = await load()
    return value === null || value === undefined ? undefined : { value }
  })

  return {
    driver: 'memory',
    async get(key) {
      return lru.get(key)?.value
    },
    async set(key, value, ttlMs = options.ttlMs) {
      lru.set(key, { value }, { ttl: ttlMs })
    },
    async delete(key) {
      lru.delete(key)
    },
    async getOrLoad(key, load, ttlMs = options.ttlMs) {
      const entry = await lru.fetch(key, { context: load, ttl: ttlMs })
      return entry ? entry.value : null
    },
    async close() {
      lru.clear()
    },
  }
}
