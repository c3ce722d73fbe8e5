/**
 * The cache port (docs/architecture.md): cache-aside for metadata reads, with an in-process LRU by
 * default and Redis (L2) behind an in-process L1 for scale-out.
 *
 * - Values are JSON-serialisable and never null or undefined: `undefined` means "not cached" and
 *   a `null` from a loader means "does not exist". Returned objects may be shared with the cache:
 *   treat them as read-only.
 * - Nulls are not cached (no negative entries). A miss for a missing id costs one load per
 *   caller batch (single-flight still coalesces), and a create never has to invalidate a
 *   "not found" entry, which is the mistake negative caching invites.
 * - Reads never fail because a shared tier is down: they fall back to the local tier, then the
 *   loader. Writes (`set`, `delete`) update the local tier and reject when a shared tier could
 *   not be updated, because then other processes may keep serving the old value until its TTL.
 * - A load that is in flight when its key is deleted or set still answers its callers, but its
 *   result is not cached: it may have been read before the write it raced.
 */
export interface Cache<V> {
  readonly driver: string
  get(key: string): Promise<V | undefined>
  /** `ttlMs` defaults to the cache's configured TTL. */
  set(key: string, value: V, ttlMs?: number): Promise<void>
  /** removes the key here and, for shared tiers, everywhere (other processes' L1 included) */
  delete(key: string): Promise<void>
  /**
   * Cache-aside with single-flight: concurrent misses for one key (in this process) call `load`
   * once and share its result or its error. Errors and null results are not cached.
   */
  getOrLoad(key: string, load: () => Promise<V | null>, ttlMs?: number): Promise<V | null>
  close(): Promise<void>
}
