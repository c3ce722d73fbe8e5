import { AppError, type ErrorCode } from '../errors/index.js'
import { type BreakerState, CircuitOpen, createCircuitBreaker } from '../lib/circuit-breaker.js'
import { assertAcquirable, assertConsumable } from './gcra.js'
import type { ConcurrencySlot, RateLimiter } from './rate-limiter.js'
import { acquiredSlot } from './slot.js'

export type FailurePolicy = 'open' | 'closed'
export type LimiterOperation = 'consume' | 'acquire' | 'release'

export interface ResilientLimiterOptions {
  /** The shared limiter (Redis). */
  primary: RateLimiter
  /** A local, per-process limiter that answers under policy 'open' while the primary cannot. */
  fallback: RateLimiter
  /**
   * 'open': keep serving, limited per process (so about N processes × the limit during an
   * outage, never unlimited: Kong RLA, rate-limiter-flexible's insuranceLimiter).
   * 'closed': refuse with RATE_LIMITER_UNAVAILABLE (503), for routes where a burst is worse
   * than an outage.
   */
  policy: FailurePolicy
  /** The most a call may wait for the primary. */
  timeoutMs: number
  /** Told of every primary failure (log it, count it: an open limiter must not fail silently). */
  onFailure?: (error: unknown, operation: LimiterOperation) => void
  /**
   * Consecutive primary failures that open the circuit breaker, and how long it then stays open
   * (calls skip the primary at once) before one probe may try it. Unset: no breaker.
   */
  breaker?: { failures: number; coolDownMs: number }
  /** Told when the breaker opens, half-opens or closes (once per change, not per call). */
  onBreaker?: (state: BreakerState) => void
}

/** 503 in the catalogue (src/errors/codes.ts): the outage is ours, not the client's. */
export const RATE_LIMITER_UNAVAILABLE = 'RATE_LIMITER_UNAVAILABLE' satisfies ErrorCode

/**
 * Puts a deadline on the primary and a policy on its failures. A call never waits longer than
 * timeoutMs for the primary, whatever the primary does (refused connection, silent socket,
 * slow script). With ioredis's offline queue off a dead Redis is refused in microseconds, but a
 * silent one (frozen, blackholed) would cost every request timeoutMs: the circuit breaker opens
 * after a few consecutive failures, so calls then skip the primary at once, and a probe after
 * the cool-down puts the shared limiter back as soon as Redis answers again.
 */
export function createResilientLimiter(options: ResilientLimiterOptions): RateLimiter {
  const { primary, fallback, policy, timeoutMs } = options
  const breaker = options.breaker
    ? createCircuitBreaker({
        failureThreshold: options.breaker.failures,
        coolDownMs: options.breaker.coolDownMs,
        onStateChange: options.onBreaker,
      })
    : null
  const throughBreaker = <T>(call: () => Promise<T>): Promise<T> =>
    breaker ? breaker.run(call) : call()

  function report(error: unknown, operation: LimiterOperation): void {
    try {
      options.onFailure?.(error, operation)
    } catch {
      // A broken logger must not turn into a failed request.
    }
  }

  async function guarded<T>(
    operation: LimiterOperation,
    call: () => Promise<T>,
    local: () => Promise<T>,
    onLate?: (value: T) => void,
  ): Promise<T> {
    try {
      return await throughBreaker(() => withDeadline(call, timeoutMs, onLate))
    } catch (error) {
      // An open breaker is one outage, already reported when it opened: not one report per call.
      if (!(error instanceof CircuitOpen)) report(error, operation)
      if (policy === 'closed')
        throw new AppError(RATE_LIMITER_UNAVAILABLE, 'The rate limiter is unavailable', {
          cause: error,
        })
      return local()
    }
  }

  /** Releasing is best effort within the deadline: a slot that is not freed expires by its ttl. */
  function bounded(slot: ConcurrencySlot): ConcurrencySlot {
    if (!slot.acquired) return slot
    return acquiredSlot(() =>
      throughBreaker(() => withDeadline(() => slot.release(), timeoutMs)).catch((error) => {
        if (!(error instanceof CircuitOpen)) report(error, 'release')
      }),
    )
  }

  // Held units are the primary's, granted before: spent without a deadline or the breaker.
  const spendHeld = primary.spendHeld?.bind(primary)
  return {
    driver: primary.driver,
    ...(spendHeld ? { spendHeld } : {}),
    async consume(key, rule, cost = 1) {
      assertConsumable(rule, cost) // a bad argument is a bug to surface, not an outage to hide
      // A unit the primary already granted this process needs neither a deadline nor the
      // breaker: most calls of a busy key end here, without a timer or a round trip.
      const held = cost === 1 ? spendHeld?.(key, rule) : null
      if (held) return held
      return guarded(
        'consume',
        () => primary.consume(key, rule, cost),
        () => fallback.consume(key, rule, cost),
      )
    },
    async acquire(key, max, ttlMs) {
      assertAcquirable(max, ttlMs)
      // A primary slot granted after the deadline would be held by nobody until its ttl: free it.
      const freeLate = (late: ConcurrencySlot) => void late.release().catch(() => {})
      return bounded(
        await guarded(
          'acquire',
          () => primary.acquire(key, max, ttlMs),
          () => fallback.acquire(key, max, ttlMs),
          freeLate,
        ),
      )
    },
    async close() {
      await Promise.allSettled([primary.close(), fallback.close()])
    },
  }
}

/** `call()`'s outcome, or a rejection after `ms`. A value that arrives later goes to `onLate`. */
function withDeadline<T>(
  call: () => Promise<T>,
  ms: number,
  onLate?: (value: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(new Error(`the rate limiter did not answer within ${ms} ms`))
    }, ms)
    const settle = (finish: () => void) => {
      clearTimeout(timer)
      settled = true
      finish()
    }
    Promise.resolve()
      .then(call)
      .then(
        (value) => (settled ? onLate?.(value) : settle(() => resolve(value))),
        (error: unknown) => settled || settle(() => reject(error)),
      )
  })
}
