import { parseArgs } from 'node:util'
import type { Kysely } from 'kysely'
import type { Registry } from 'prom-client'
import type { AuthTables } from '../auth/tables.js'
import type { Config } from '../config/schema.js'
import { collectGarbage, createGcMetrics, DEFAULT_GC_GRACE_MS } from '../maintenance/gc.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { ObjectStore } from '../storage/object-store.js'
import { parseDurationSeconds } from './duration.js'

/** What the maintenance commands (gc, owners, backup) use beyond the other commands' ports. */
export interface MaintenanceDeps {
  config: Config
  store: ObjectStore
  metadata: ShardedMetadata
  /** The control database typed with auth's tables (keys, settings). */
  authTables: Kysely<AuthTables>
  /** The metadata cache: with Redis, the one every process shares. */
  cache: { delete(key: string): Promise<void> }
  registry: Registry
}

type Out = (line: string) => void

export const GC_USAGE = `  gc [--dry-run] [--older-than 1h] [--json]
                                 delete objects no image row owns (orphans of crashes and refused
                                 uploads) whose objects are all older than --older-than (default
                                 1h, at least 10m); unknown keys are listed, never touched`

/** Shorter than this and an upload still streaming could lose its original. */
const MIN_GRACE_SECONDS = 600

export async function gcCommand(deps: MaintenanceDeps, args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'dry-run': { type: 'boolean' },
      'older-than': { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  let olderThanMs = DEFAULT_GC_GRACE_MS
  if (values['older-than'] !== undefined) {
    try {
      const seconds = parseDurationSeconds(values['older-than'])
      if (seconds < MIN_GRACE_SECONDS) throw new Error(`must be at least ${MIN_GRACE_SECONDS}s`)
      olderThanMs = seconds * 1000
    } catch (error) {
      process.stderr.write(`--older-than: ${(error as Error).message}\n`)
      return 2
    }
  }
  const report = await collectGarbage({
    store: deps.store,
    metadata: deps.metadata,
    olderThanMs,
    dryRun: values['dry-run'] ?? false,
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
