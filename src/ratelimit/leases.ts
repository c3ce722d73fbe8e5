import type { RateLimitDecision, RateLimitRule } from './rate-limiter.js'

/** What one "take up to n units" call on the shared state answered. */
export interface Taken {
  /** Units granted, from 0 (a refusal) to the n asked for. */
  granted: number
  /** Units still free in the shared state after the grant. */
  remaining: number
  /** Ms until the shared state is whole again, after the grant. */
  resetMs: number
  /** When nothing was granted: ms until one unit is free. */
  retryAfterMs: number
  /** The shared state's clock at the take, which a give-back needs (see GIVE_BACK_LUA). */
  at: string
}

/** The shared state leases are cut from (the Redis scripts), per state key. */
export interface LeaseSource {
  take(key: string, rule: RateLimitRule, max: number): Promise<Taken>
  /**
   * Units taken at `at` and never spent, handed back: their intervals less the time since `at`,
   * the most that cannot cancel another process's spending (drivers/redis-scripts.ts).
   */
  giveBack(key: string, rule: RateLimitRule, units: number, at: string): Promise<void>
}

export interface LeaseOptions {
  /** How long unspent units stay here before they go back (default 50 ms). */
  leaseMs?: number
  /** The most units one take asks for (default 64); never more than an eighth of the limit. */
  maxUnits?: number
  now?: () => number
}

interface Waiter {
  resolve(decision: RateLimitDecision): void
  reject(error: unknown): void
}

interface Lease {
  rule: RateLimitRule
  /** Taken from the shared state, not spent yet. */
  units: number
  /** How many the next take asks for: doubles each time a lease runs dry within leaseMs, halves each leaseMs without a take. */
  size: number
  takenAt: number
  last: Taken
  waiters: Waiter[]
  taking: boolean
  timer: NodeJS.Timeout | null
}

/**
 * Spends units of a shared rate limit one request at a time, but takes them from the shared
 * state several at once: one round trip (an EVALSHA, about 13 µs of this process's CPU) then
 * serves many requests of a busy key. It never allows more than the shared state granted, so the
 * limit stays exact across processes; the price is that units one process holds for up to
 * `leaseMs` are not free for the others meanwhile, who may be refused a little early. Units not
 * spent by then are given back, less the time they were held (what others may have spent since:
 * GIVE_BACK_LUA). A lease starts at one unit and doubles each time it runs dry
 * within `leaseMs`, so a key seen once costs what it did before and a key under load soon takes
 * `maxUnits` at a time; the size halves each `leaseMs` without a take. One take never asks for
 * more than an eighth of the limit, so a small limit is never held by one process.
 */
export function createLeases(source: LeaseSource, options: LeaseOptions = {}) {
  const leaseMs = options.leaseMs ?? 50
  const maxUnits = options.maxUnits ?? 64
  const now = options.now ?? Date.now
  const leases = new Map<string, Lease>()
  /** Takes under way, so close() can wait for them and give their units back too. */
  const pending = new Set<Promise<void>>()

  /** The most one take asks for: maxUnits, and never more than an eighth of the limit. */
  const mostOf = (rule: RateLimitRule) =>
    Math.min(maxUnits, Math.max(1, Math.floor(rule.limit / 8)))

  /** A held unit spent, or null when none is held or calls wait for a take (they come first). */
  function spendIfHeld(lease: Lease | undefined): RateLimitDecision | null {
    return lease && lease.units > 0 && lease.waiters.length === 0 ? spendOne(lease) : null
  }

  function spendOne(lease: Lease): RateLimitDecision {
    lease.units--
    if (lease.units === 0 && now() - lease.takenAt < leaseMs)
      lease.size = Math.min(mostOf(lease.rule), lease.size * 2)
    const { rule, last } = lease
    const interval = rule.windowMs / rule.limit
    return {
      allowed: true,
      limit: rule.limit,
      // The shared state's answer, plus what this process holds unspent.
      remaining: Math.min(rule.limit, last.remaining + lease.units),
      resetMs: Math.max(
        0,
        Math.ceil(last.resetMs - (now() - lease.takenAt) - lease.units * interval),
      ),
      retryAfterMs: 0,
    }
  }

  function refusal(lease: Lease, taken: Taken): RateLimitDecision {
    const { rule } = lease
    // Granted some, but fewer than waited: the rest are refused until the next unit is free.
    const nextUnitMs = Math.max(1, Math.ceil(rule.windowMs / rule.limit))
    return {
      allowed: false,
      limit: rule.limit,
      remaining: taken.granted === 0 ? taken.remaining : 0,
      resetMs: taken.resetMs,
      retryAfterMs: taken.granted === 0 ? taken.retryAfterMs : nextUnitMs,
    }
  }

  function refill(key: string, lease: Lease): void {
    const done = takeFor(key, lease)
    pending.add(done)
    void done.finally(() => pending.delete(done))
  }

  async function takeFor(key: string, lease: Lease): Promise<void> {
    lease.taking = true
    const want = Math.min(mostOf(lease.rule), Math.max(lease.size, lease.waiters.length))
    let taken: Taken
    try {
      taken = await source.take(key, lease.rule, want)
    } catch (error) {
      lease.taking = false
      for (const waiter of lease.waiters.splice(0)) waiter.reject(error)
      forget(key, lease)
      return
    }
    lease.taking = false
    lease.units += taken.granted
    lease.takenAt = now()
    lease.last = taken
    arm(key, lease)
    // A call the resilient wrapper already answered (past its timeout) is still served: a unit
    // spent for nothing, on the strict side. Its age cannot tell it apart from a first call that
    // waited for the connection.
    const waiters = lease.waiters.splice(0)
    for (const [i, waiter] of waiters.entries()) {
      if (lease.units > 0) waiter.resolve(spendOne(lease))
      else if (taken.granted < want) waiter.resolve(refusal(lease, taken))
      else {
        // More waited than one take may ask for: the rest wait for the next.
        lease.waiters.push(...waiters.slice(i))
        refill(key, lease)
        return
      }
    }
  }

  /**
   * After `leaseMs`, unspent units go back. The size then halves every `leaseMs` without a take
   * (a key spending steadily but slower than its lease keeps most of it), and a key back at one
   * unit is forgotten: the map holds only keys seen in the last few hundred ms.
   */
  function arm(key: string, lease: Lease): void {
    if (lease.timer) clearTimeout(lease.timer)
    lease.timer = setTimeout(() => {
      lease.timer = null
      void giveBack(key, lease)
      if (lease.size === 1) return forget(key, lease)
      lease.size = Math.floor(lease.size / 2)
      arm(key, lease)
    }, leaseMs).unref()
  }

  function giveBack(key: string, lease: Lease): Promise<void> {
    const units = lease.units
    lease.units = 0
    if (units === 0) return Promise.resolve()
    // Lost units only make the limit stricter for a moment: never worth failing a request.
    return source.giveBack(key, lease.rule, units, lease.last.at).catch(() => {})
  }

  function forget(key: string, lease: Lease): void {
    if (lease.units > 0 || lease.taking || lease.waiters.length > 0) return
    if (lease.timer) clearTimeout(lease.timer)
    if (leases.get(key) === lease) leases.delete(key)
  }

  return {
    /** Spends one unit held for `key`, synchronously (spendIfHeld). */
    spendHeld: (key: string): RateLimitDecision | null => spendIfHeld(leases.get(key)),

    /** Spends one unit of `rule` under the shared state key `key`. */
    consume(key: string, rule: RateLimitRule): Promise<RateLimitDecision> {
      let lease = leases.get(key)
      if (!lease) {
        const last = { granted: 0, remaining: 0, resetMs: 0, retryAfterMs: 0, at: '0' }
        lease = {
          rule,
          units: 0,
          size: 1,
          takenAt: 0,
          last,
          waiters: [],
          taking: false,
          timer: null,
        }
        leases.set(key, lease)
      }
      const held = spendIfHeld(lease)
      if (held) return Promise.resolve(held)
      const current = lease
      return new Promise((resolve, reject) => {
        current.waiters.push({ resolve, reject })
        if (!current.taking) refill(key, current)
      })
    },

    /**
     * Gives back what `key` holds now, before a call that bypasses the leases (a take under way
     * still lands in the lease: that call then sees the state a little stricter, never looser).
     */
    async release(key: string): Promise<void> {
      const lease = leases.get(key)
      if (lease) await giveBack(key, lease)
    },

    /** Waits for the takes under way, then gives every unspent unit back (a process that stops). */
    async close(): Promise<void> {
      while (pending.size > 0) await Promise.allSettled([...pending])
      const all = [...leases.entries()]
      leases.clear()
      for (const [, lease] of all) if (lease.timer) clearTimeout(lease.timer)
      await Promise.all(all.map(([key, lease]) => giveBack(key, lease)))
    },
  }
}
