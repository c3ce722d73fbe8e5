/** Exponential backoff with jitter: about 250 ms, 500 ms, 1 s … capped, never all clients in step. */
export function backoffMs(attempt: number, baseMs = 250, capMs = 10_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt)
  return ceiling / 2 + Math.random() * (ceiling / 2)
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * One signal that aborts when any of the given ones does. Not AbortSignal.any: older browsers lack
 * it, and its listeners on a long-lived signal stay until that signal is collected; these go on dispose.
 */
export function anySignal(signals: (AbortSignal | undefined)[]): {
  signal: AbortSignal
  abort: (reason?: unknown) => void
  dispose: () => void
} {
  const controller = new AbortController()
  const cleanups: (() => void)[] = []
  for (const signal of signals) {
    if (!signal) continue
    if (signal.aborted) {
      controller.abort(signal.reason)
      break
    }
    const onAbort = () => controller.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => signal.removeEventListener('abort', onAbort))
  }
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose: () => {
      for (const cleanup of cleanups) cleanup()
    },
  }
}
