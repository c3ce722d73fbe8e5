import type { RateLimitDecision, RateLimitRule } from './rate-limiter.js'

/**
 * Generic Cell Rate Algorithm, pure. State is one number per key: the theoretical arrival time
 * (TAT), the instant at which the key would be fully replenished. Each unit moves it forward by
 * the emission interval T = windowMs / limit; a request is allowed while the new TAT stays
 * within windowMs of now, which gives a burst of `limit`. The Redis script (drivers/redis-scripts.ts)
 * is the same arithmetic in Lua; keep the two in step.
 */
export interface GcraResult {
  decision: RateLimitDecision
  /** The TAT to store, or null when nothing changes (a refusal, or cost 0). */
  tat: number | null
}

/** Float slack: with T = 1000 / 3 the sums land a hair off whole units. */
const EPSILON_MS = 1e-6

export function gcra(
  storedTat: number | undefined,
  now: number,
  rule: RateLimitRule,
  cost: number,
): GcraResult {
  const interval = rule.windowMs / rule.limit
  const tat = Math.max(storedTat ?? now, now)
  const newTat = tat + cost * interval
  const allowAt = newTat - rule.windowMs
  // Units left once the TAT is `t`: how much of the window is still free, in intervals.
  const remainingAt = (t: number) =>
    clamp(Math.floor((rule.windowMs - (t - now)) / interval + EPSILON_MS), 0, rule.limit)
  const msUntil = (t: number) => Math.max(0, Math.ceil(t - now - EPSILON_MS))

  if (allowAt - now > EPSILON_MS) {
    const retryAfterMs = Math.max(1, msUntil(allowAt))
    return {
      decision: {
        allowed: false,
        limit: rule.limit,
        remaining: remainingAt(tat),
        resetMs: msUntil(tat),
        retryAfterMs,
      },
      tat: null,
    }
  }
  const decision = {
    allowed: true,
    limit: rule.limit,
    remaining: remainingAt(newTat),
    resetMs: msUntil(newTat),
    retryAfterMs: 0,
  }
  return { decision, tat: cost > 0 ? newTat : null }
}

const RULE_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** Throws a RangeError for arguments no driver could honour; see the RateLimiter docblock. */
export function assertConsumable(rule: RateLimitRule, cost: number): void {
  const fail = (why: string) => {
    throw new RangeError(`rate limit ${rule.name}: ${why}`)
  }
  // The name is a Redis key segment and a quoted header string: keep it plain.
  if (!RULE_NAME.test(rule.name)) fail(`name must match ${RULE_NAME.source}`)
  if (!Number.isSafeInteger(rule.limit) || rule.limit < 1) fail('limit must be a positive integer')
  if (!Number.isSafeInteger(rule.windowMs) || rule.windowMs < 1)
    fail('windowMs must be a positive integer')
  if (!Number.isSafeInteger(cost) || cost < 0) fail('cost must be a non-negative integer')
  if (cost > rule.limit)
    fail(`cost ${cost} exceeds the limit ${rule.limit}, so it could never be allowed`)
}

export function assertAcquirable(max: number, ttlMs: number): void {
  if (!Number.isSafeInteger(max) || max < 1)
    throw new RangeError('concurrency max must be a positive integer')
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new RangeError('concurrency ttlMs must be a positive integer')
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}
