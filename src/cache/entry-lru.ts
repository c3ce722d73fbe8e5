import { LRUCache } from 'lru-cache'

export interface LruOptions {
  maxEntries: number
  ttlMs: number
  /**
   * The clock every TTL decision reads, in milliseconds from any fixed origin (only differences
   * count). Tests pass a fake one and move it instead of sleeping past a TTL. Default: lru-cache's
   * own, `performance.now()`, which is monotonic, so a step of the wall clock neither expires nor
   * extends entries. It must never answer 0: lru-cache reads a start time of 0 as "no TTL".
   */
  now?: () => number
}

/** Values are boxed: lru-cache reserves `undefined`, and boxing keeps 0, '' and false storable. */
export interface Entry<V> {
  value: V
}

export type FetchOptions<V, C> = LRUCache.FetcherFetchOptions<string, Entry<V>, C>

/** Produces the entry for a miss; `undefined` caches nothing. May lower `options.ttl`. */
export type Fill<V, C> = (
  key: string,
  context: C,
  options: FetchOptions<V, C>,
) => Promise<Entry<V> | undefined>

/**
 * An LRU whose `fetch` is the single-flight: concurrent fetches of one key share one `fill`.
 *
 * A `delete`, `set` or `clear` while a fill is in flight aborts it inside lru-cache. With
 * `ignoreFetchAbort` the fill still runs to the end and its waiting callers still get the value,
 * but lru-cache only stores a result into the slot that still holds this very fetch, and the
 * abort emptied (or replaced) that slot. So a load that raced an invalidation is returned but
 * never cached: that is the local half of the stale-write guard.
 */
export function createEntryLru<V, C>(
  options: LruOptions,
  fill: Fill<V, C>,
): LRUCache<string, Entry<V>, C> {
  return new LRUCache<string, Entry<V>, C>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    ignoreFetchAbort: true,
    // lru-cache memoises the time for `ttlResolution` ms of real time (1 by default); a given
    // clock is read on every check instead, so a fake one that was just moved is seen at once.
    ...(options.now && { perf: { now: options.now }, ttlResolution: 0 }),
    fetchMethod: (key, _stale, { context, options: fetchOptions }) =>
      fill(key, context, fetchOptions),
  })
}
