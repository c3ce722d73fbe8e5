import type { ConcurrencySlot } from './rate-limiter.js'

/** The slot handed out when none is free: releasing it does nothing. */
export const NOT_ACQUIRED: ConcurrencySlot = Object.freeze({
  acquired: false,
  release: async () => {},
})

/**
 * A held slot whose `release` runs `free` at most once, so a handler that releases in both its
 * `finally` and an error path cannot free a second holder's slot. A failed `free` is not retried:
 * the slot's ttl frees it anyway.
 */
export function acquiredSlot(free: () => Promise<void>): ConcurrencySlot {
  let released = false
  return {
    acquired: true,
    async release() {
      if (released) return
      released = true
      await free()
    },
  }
}
