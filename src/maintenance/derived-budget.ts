import type { Logger } from 'pino'
import type { ObjectEntry, ObjectStore } from '../storage/object-store.js'
import { recogniseKey } from './object-kinds.js'

export interface DerivedBudgetReport {
  /** Derived results seen (originals, variants and unknown keys are not counted). */
  scanned: number
  /** Their bytes before the sweep deleted any. */
  totalBytes: number
  deleted: number
  freedBytes: number
  /** Deletes that failed: left for the next sweep. */
  failed: number
  /** Stopped early by the signal (the process is shutting down): the next sweep goes on. */
  aborted: boolean
  /** The first few failures (at most FAILURES_KEPT), for the log. */
  failures: { key: string; error: string }[]
}

const FAILURES_KEPT = 10

/**
 * Keeps the derived results (on-the-fly transforms) of a store within `budgetBytes`: when they
 * add up to more, deletes the least recently used (oldest modifiedAt, which the transform service
 * moves forward with `touch` when it serves one) until they fit. A deleted result is rendered
 * again on its next request. Originals, variants and keys no kind claims are never deleted: only
 * what object-kinds recognises as derived (a well-formed key of a valid image id).
 *
 * `budgetBytes` 0 is no budget: nothing is scanned. `signal` ends a sweep early (between two
 * objects), so that a shutdown does not wait for a walk of millions of keys.
 */
export async function sweepDerivedBudget(
  store: Pick<ObjectStore, 'scan' | 'delete'>,
  budgetBytes: number,
  options: { signal?: AbortSignal } = {},
): Promise<DerivedBudgetReport> {
  const { signal } = options
  const report: DerivedBudgetReport = {
    scanned: 0,
    totalBytes: 0,
    deleted: 0,
    freedBytes: 0,
    failed: 0,
    failures: [],
    aborted: false,
  }
  if (budgetBytes <= 0) return report
  const derived = await scanDerived(store, signal)
  // A partial scan undercounts: judge nothing on it.
  if (signal?.aborted) return { ...report, aborted: true }
  report.scanned = derived.length
  report.totalBytes = derived.reduce((sum, entry) => sum + entry.size, 0)
  let remaining = report.totalBytes
  if (remaining <= budgetBytes) return report
  derived.sort(leastRecentlyUsedFirst)
  for (const entry of derived) {
    if (remaining <= budgetBytes) break
    if (signal?.aborted) {
      report.aborted = true
      break
    }
    try {
      await store.delete(entry.key)
    } catch (error) {
      // One key that will not go (a permission changed under it) must not keep the rest: the
      // sweep goes on to the next oldest, and the next sweep tries this one again.
      report.failed++
      if (report.failures.length < FAILURES_KEPT)
        report.failures.push({ key: entry.key, error: String(error) })
      continue
    }
    remaining -= entry.size
    report.deleted++
    report.freedBytes += entry.size
  }
  return report
}

/**
 * Every derived result under `images/`, with its size and age. This array is what the sweep holds
 * in memory: one small entry per derived result (its key, size and modifiedAt; a few hundred
 * bytes), none for originals and variants, which the scan yields and the sweep drops at once.
 *
 * The ages are those read during the scan: a result served (touched) after the scan passed it
 * may still be deleted as old, and is rendered again. A sweep never waits on requests for that.
 */
async function scanDerived(
  store: Pick<ObjectStore, 'scan'>,
  signal: AbortSignal | undefined,
): Promise<ObjectEntry[]> {
  const derived: ObjectEntry[] = []
  for await (const { key, size, modifiedAt } of store.scan('images/')) {
    if (signal?.aborted) break
    if (recogniseKey(key)?.kind === 'derived') derived.push({ key, size, modifiedAt })
  }
  return derived
}

/** Oldest first; equal ages in key order, so that two sweeps of the same store agree. */
function leastRecentlyUsedFirst(a: ObjectEntry, b: ObjectEntry): number {
  if (a.modifiedAt !== b.modifiedAt) return a.modifiedAt - b.modifiedAt
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

export interface DerivedBudgetSweepDeps {
  store: Pick<ObjectStore, 'scan' | 'delete'>
  budgetBytes: number
  intervalMs: number
  logger: Pick<Logger, 'info' | 'warn'>
}

export interface DerivedBudgetSweeper {
  /** One sweep now (tests); queued behind a sweep already running. */
  runOnce(): Promise<DerivedBudgetReport>
  /** No sweep starts after this; a running one stops between two objects; resolves once it has. */
  stop(): Promise<void>
}

/**
 * Sweeps every `intervalMs`, the first time one interval after start (a starting process has
 * other things to do, and a store over budget for minutes harms nothing), one sweep at a time.
 * A failed sweep (the store could not be listed) is logged and tried again next interval.
 */
export function startDerivedBudgetSweep(deps: DerivedBudgetSweepDeps): DerivedBudgetSweeper {
  let timer: NodeJS.Timeout | undefined
  let current: Promise<unknown> = Promise.resolve()
  const stopping = new AbortController()

  function runOnce(): Promise<DerivedBudgetReport> {
    const sweep = () =>
      sweepDerivedBudget(deps.store, deps.budgetBytes, { signal: stopping.signal })
    const run = current.then(sweep, sweep)
    current = run.catch(() => undefined)
    return run
  }

  async function sweepAndLog(): Promise<void> {
    try {
      logReport(deps, await runOnce())
    } catch (error) {
      deps.logger.warn({ err: error }, 'derived budget sweep failed')
    }
  }

  const schedule = () => {
    if (stopping.signal.aborted) return
    timer = setTimeout(() => void sweepAndLog().finally(schedule), deps.intervalMs)
    timer.unref()
  }
  schedule()

  return {
    runOnce,
    async stop() {
      stopping.abort()
      clearTimeout(timer)
      await current
    },
  }
}

function logReport(deps: DerivedBudgetSweepDeps, report: DerivedBudgetReport): void {
  const { failures, ...counts } = report
  if (report.deleted > 0)
    deps.logger.info(
      { ...counts, budgetBytes: deps.budgetBytes },
      'derived budget sweep: deleted least recently used results',
    )
  if (report.failed > 0)
    deps.logger.warn({ failed: report.failed, failures }, 'derived budget sweep: deletes failed')
}
