/** At most `limit` units per `windowMs`, as GCRA with burst = limit (the RateLimiter port; docs/architecture.md). */
export interface RateLimitRule {
  /** Names the policy in the RateLimit headers and partitions the state: each (name, key) is its own limit. */
  readonly name: string
  readonly limit: number
  readonly windowMs: number
}

export interface RateLimitDecision {
  allowed: boolean
  limit: number
  /** Units that could still be spent right now, after this decision. */
  remaining: number
  /**
   * Ms until the limiter is fully replenished (remaining back to `limit`, like redis-cell's
   * reset_after), counted after this decision. Not "until the next request is allowed": that is
   * `retryAfterMs`.
   */
  resetMs: number
  /** 0 when allowed; otherwise ms until this same request (same cost) would be allowed. */
  retryAfterMs: number
}

export interface ConcurrencySlot {
  acquired: boolean
  /** Frees the slot. Idempotent; a no-op for a slot that was not acquired. Never frees another holder's slot. */
  release(): Promise<void>
}

/**
 * The seam between the gateway and rate-limit state. `consume` is the Generic Cell Rate
 * Algorithm: one "theoretical arrival time" per (rule, key), so a limit of N per window allows a
 * burst of N and then one more every windowMs / N. The decision and the spending are one atomic
 * step: a refused request spends nothing. Drivers share state across processes or not: the
 * memory driver is per process, the Redis driver is one limit for the whole fleet.
 *
 * Programming errors (a limit or cost that is not a usable integer, a cost above the limit,
 * which could never be allowed) throw a RangeError at once; infrastructure failures reject.
 */
export interface RateLimiter {
  readonly driver: string
  /** Spends `cost` units (default 1) if they are all available; cost 0 only reports the state. */
  consume(key: string, rule: RateLimitRule, cost?: number): Promise<RateLimitDecision>
  /**
   * Spends one unit this process already holds for `key` without I/O, as `consume` would: a
   * lease's unit (./leases.ts), or any unit of the memory driver, whose state is all here. Null
   * when it holds none, and the caller then calls `consume`. A driver that holds nothing locally
   * leaves it out.
   */
  spendHeld?(key: string, rule: RateLimitRule): RateLimitDecision | null
  /** At most `max` holders of `key` at once; a slot not released expires after ttlMs (crashed holder). */
  acquire(key: string, max: number, ttlMs: number): Promise<ConcurrencySlot>
  close(): Promise<void>
}
