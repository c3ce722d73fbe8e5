/**
 * A circuit breaker for a shared service that may stop answering (Redis for the cache and the
 * rate limiter). Closed: calls go through; `failureThreshold` consecutive failures open it.
 * Open: calls fail at once with CircuitOpen for `coolDownMs`, instead of each waiting out a
 * timeout. Then half-open: exactly one call (the probe) goes through while the others still fail
 * at once; its success closes the breaker, its failure opens it for another cool-down.
 *
 * Written here rather than taken from opossum: opossum trips on an error percentage over a
 * timer-driven rolling window and wraps one function per breaker; this is the consecutive-failure
 * rule asked for, with an injectable clock, in a few lines of pure logic that imports nothing.
 */
export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  failureThreshold: number
  coolDownMs: number
  now?: () => number
  onStateChange?: (state: BreakerState) => void
}

export class CircuitOpen extends Error {
  override name = 'CircuitOpen'
}

export interface CircuitBreaker {
  run<T>(call: () => Promise<T>): Promise<T>
  readonly state: BreakerState
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const { failureThreshold, coolDownMs, now = Date.now } = options
  let state: BreakerState = 'closed'
  let failures = 0
  let openedAt = 0
  let probing = false

  const moveTo = (next: BreakerState) => {
    if (next === state) return
    state = next
    try {
      options.onStateChange?.(next)
    } catch {
      // A broken logger must not break the breaker.
    }
  }

  return {
    get state() {
      if (state === 'open' && now() - openedAt >= coolDownMs) return 'half-open'
      return state
    },
    async run(call) {
      if (state === 'open' && now() - openedAt >= coolDownMs) moveTo('half-open')
      if (state === 'open' || (state === 'half-open' && probing))
        throw new CircuitOpen('The circuit is open: the service failed and is cooling down')
      const probe = state === 'half-open'
      if (probe) probing = true
      try {
        const value = await call()
        failures = 0
        moveTo('closed')
        return value
      } catch (error) {
        failures++
        if (probe || failures >= failureThreshold) {
          openedAt = now()
          moveTo('open')
        }
        throw error
      } finally {
        if (probe) probing = false
      }
    },
  }
}
