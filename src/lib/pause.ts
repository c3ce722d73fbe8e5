/**
 * The wait between rounds of a background loop (the worker's claims, the outbox relay, the
 * webhook dispatcher, the reconciler). `until(ms)` ends after `ms`, or as soon as `wake()` is
 * called, whichever comes first. A wake that comes while the loop is busy is kept for its next
 * wait, which then ends at once: work that arrived mid-round (a freed slot, a nudge) is not left
 * for a whole interval. Once `stop()` is called no wait lasts: a stop that lands while a round is
 * in flight costs the loop nothing (it used to cost one interval, a 60 s hang in a test).
 */
export interface Pause {
  until(ms: number): Promise<void>
  wake(): void
  stop(): void
  readonly stopped: boolean
}

export function createPause(): Pause {
  let stopped = false
  let woken = false
  let end: (() => void) | null = null
  return {
    until(ms) {
      if (stopped || woken) {
        woken = false
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => {
        // Unref'd: a loop waiting for its next round must not keep the process alive.
        const timer = setTimeout(() => finish(), ms).unref()
        const finish = () => {
          clearTimeout(timer)
          end = null
          resolve()
        }
        end = finish
      })
    },
    wake() {
      if (end) end()
      else woken = true
    },
    stop() {
      stopped = true
      end?.()
    },
    get stopped() {
      return stopped
    },
  }
}
