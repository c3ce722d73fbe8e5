import { type Command, InvalidArgumentError } from 'commander'
import { collectGarbage, createGcMetrics, DEFAULT_GC_GRACE_MS } from '../maintenance/gc.js'
import type { MaintenanceDeps, Scope } from './command.js'
import { parseDurationSeconds } from './duration.js'

type Out = (line: string) => void

/** Shorter than this and an upload still streaming could lose its original. */
const MIN_GRACE_SECONDS = 600

interface GcOptions {
  dryRun?: boolean
  olderThan?: number
  json?: boolean
}

export function registerGc(program: Command, scope: Scope): void {
  program
    .command('gc')
    .summary('delete objects no image row owns (orphans of crashes and refused uploads)')
    .description(
      'delete objects no image row owns (orphans of crashes and refused uploads) whose objects ' +
        'are all older than --older-than; unknown keys are listed, never touched',
    )
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .option('--older-than <duration>', 'grace: 1h (default), 30m, 2d …; at least 10m', olderThan)
    .option('--json', 'the report as JSON')
    .action(
      scope.run((options: GcOptions) =>
        scope.withMaintenance((deps) => gcCommand(deps, options, scope.out)),
      ),
    )
}

function olderThan(text: string): number {
  try {
    const seconds = parseDurationSeconds(text)
    if (seconds < MIN_GRACE_SECONDS) throw new Error(`must be at least ${MIN_GRACE_SECONDS}s`)
    return seconds * 1000
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

export async function gcCommand(
  deps: MaintenanceDeps,
  options: GcOptions,
  out: Out,
): Promise<number> {
  const values = { ...options, olderThanMs: options.olderThan ?? DEFAULT_GC_GRACE_MS }
  const report = await collectGarbage({
    store: deps.store,
    metadata: deps.metadata,
    olderThanMs: values.olderThanMs,
    dryRun: values.dryRun ?? false,
    metrics: createGcMetrics(deps.registry),
  })
  if (values.json) {
    out(JSON.stringify(report, null, 2))
  } else {
    const verb = report.dryRun ? 'would delete' : 'deleted'
    out(
      `scanned ${report.scanned} objects; ${report.orphanImages} orphaned images: ${verb} ${report.orphanObjects} objects (${report.byKind.original} originals, ${report.byKind.variant} variants, ${report.orphanBytes} bytes)`,
    )
    for (const key of report.orphanKeys) out(`  ${verb}: ${key}`)
    out(`left for a later run (an object younger than the grace): ${report.imagesTooYoung} images`)
    if (report.unrecognisedCount > 0)
      out(`unrecognised keys, not touched: ${report.unrecognisedCount}`)
    for (const key of report.unrecognised) out(`  unrecognised: ${key}`)
    for (const e of report.errors) out(`  skipped ${e.imageId}: ${e.error}`)
  }
  return report.errors.length > 0 ? 1 : 0
}
