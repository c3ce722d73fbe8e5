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
}

/** The shared state leases are cut from (the Redis scripts), per state key. */
export interface LeaseSource {
  take(key: string, rule: RateLimitRule, max: number): Promise<Taken>
  /** Units taken and never spent, handed back as if they had never been taken. */
  giveBack(key: string, rule: RateLimitRule, units: number): Promise<void>
}

export interface LeaseOptions {
  /** How long unspent units stay here before they go back (default 50 ms). */
  leaseMs?: number
  /** The most units one take asks for (default 64). */
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
  /** How many the next take asks for: doubles while leases run dry fast, halves when they expire. */
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
 * spent by then are given back. A lease starts at one unit and doubles each time it runs dry
 * within `leaseMs`, so a key seen once costs what it did before and a key under load soon takes
 * `maxUnits` at a time.
 */
export function createLeases(source: LeaseSource, options: LeaseOptions = {}) {
  const leaseMs = options.leaseMs ?? 50
  const maxUnits = options.maxUnits ?? 64
  const now = options.now ?? Date.now
  const leases = new Map<string, Lease>()

  function spendOne(lease: Lease): RateLimitDecision {
    lease.units--
    if (lease.units === 0 && now() - lease.takenAt < leaseMs)
      lease.size = Math.min(maxUnits, lease.size * 2)
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

  async function refill(key: string, lease: Lease): Promise<void> {
    lease.taking = true
    const want = Math.min(lease.rule.limit, maxUnits, Math.max(lease.size, lease.waiters.length))
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
    const waiters = lease.waiters.splice(0)
    for (const [i, waiter] of waiters.entries()) {
      if (lease.units > 0) waiter.resolve(spendOne(lease))
      else if (taken.granted < want) waiter.resolve(refusal(lease, taken))
      else {
        // More waited than one take may ask for: the rest wait for the next.
        lease.waiters.push(...waiters.slice(i))
        void refill(key, lease)
        return
      }
    }
  }

  /** After `leaseMs`, unspent units go back and the lease shrinks; an idle key is forgotten. */
  function arm(key: string, lease: Lease): void {
    if (lease.timer) clearTimeout(lease.timer)
    lease.timer = setTimeout(() => {
      lease.timer = null
      if (lease.units > 0) {
        void giveBack(key, lease)
        lease.size = Math.max(1, Math.floor(lease.size / 2))
      }
      forget(key, lease)
    }, leaseMs).unref()
  }

  function giveBack(key: string, lease: Lease): Promise<void> {
    const units = lease.units
    lease.units = 0
    // Lost units only make the limit stricter for a moment: never worth failing a request.
    return units > 0 ? source.giveBack(key, lease.rule, units).catch(() => {}) : Promise.resolve()
  }

  function forget(key: string, lease: Lease): void {
    if (lease.units > 0 || lease.taking || lease.waiters.length > 0) return
    if (lease.timer) clearTimeout(lease.timer)
    if (leases.get(key) === lease) leases.delete(key)
  }

  return {
    /** Spends one unit of `rule` under the shared state key `key`. */
    consume(key: string, rule: RateLimitRule): Promise<RateLimitDecision> {
      let lease = leases.get(key)
      if (!lease) {
        const last = { granted: 0, remaining: 0, resetMs: 0, retryAfterMs: 0 }
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
      if (lease.units > 0 && lease.waiters.length === 0) return Promise.resolve(spendOne(lease))
      const current = lease
      return new Promise((resolve, reject) => {
        current.waiters.push({ resolve, reject })
        if (!current.taking) void refill(key, current)
      })
    },

    /** Gives back what `key` holds, so a call that bypasses the leases sees the whole state. */
    async release(key: string): Promise<void> {
      const lease = leases.get(key)
      if (lease) await giveBack(key, lease)
    },

    /** Gives every unspent unit back (a process that stops). */
    async close(): Promise<void> {
      const all = [...leases.entries()]
      leases.clear()
      for (const [, lease] of all) if (lease.timer) clearTimeout(lease.timer)
      await Promise.all(all.map(([key, lease]) => giveBack(key, lease)))
    },
  }
}
