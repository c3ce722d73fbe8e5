import { createPause } from '../lib/pause.js'
import { type ReconcileDeps, type ReconcileReport, reconcileOnce } from './reconciler.js'

export interface Reconciler {
  /** One sweep now (tests, and nothing else waits for the interval). */
  runOnce(): Promise<ReconcileReport>
  stop(): Promise<void>
}

/**
 * Sweeps every `intervalMs`, the first time one interval after start (a starting fleet has other
 * things to do, and nothing is stuck for seconds only). Runs overlap never: one sweep at a time.
 */
export function startReconciler(deps: ReconcileDeps & { intervalMs: number }): Reconciler {
  const pause = createPause()
  let current: Promise<ReconcileReport | null> = Promise.resolve(null)

  function runOnce(): Promise<ReconcileReport> {
    const run = current.then(
      () => reconcileOnce(deps),
      () => reconcileOnce(deps),
    )
    current = run.catch(() => null)
    return run
  }

  async function loop(): Promise<void> {
    while (!pause.stopped) {
      await pause.until(deps.intervalMs)
      if (pause.stopped) return
      const report = await runOnce().catch((error) => {
        deps.logger.error({ err: error }, 'reconciler: sweep failed')
        return null
      })
      if (report && report.errors.length > 0)
        deps.logger.warn({ errors: report.errors }, 'reconciler: parts of the sweep failed')
    }
  }
  const running = loop()

  return {
    runOnce,
    async stop() {
      pause.stop()
      await running
      await current
    },
  }
}
