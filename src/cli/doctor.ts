import type { Command } from 'commander'
import { type Logger, pino } from 'pino'
import { imageKey } from '../images/image-service.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { QueueDriver } from '../queue/queue.js'
import {
  type ReconcileReport,
  type ReconcileSettings,
  reconcileOnce,
} from '../reconcile/reconciler.js'
import type { Scope } from './command.js'

export function registerDoctor(program: Command, scope: Scope): void {
  program
    .command('doctor')
    .summary('one reconciler sweep now: stuck images, dead jobs of unfinished images')
    .description(
      'one reconciler sweep now: images stuck queued/processing with no job (re-enqueued, or ' +
        'failed PROCESSING_STUCK past the limit) and dead jobs whose image is unfinished (failed); ' +
        'exit 1 when it found something or could not read a part',
    )
    .option('--dry-run', 'change nothing')
    .option('--json', 'the report as JSON')
    .action(
      scope.run((options: DoctorOptions) =>
        // With the shared cache: the images it fails must drop out of it, as a worker's do.
        scope.withMaintenance((maintenance, deps) =>
          doctorCommand(
            { ...deps, cache: maintenance.cache, logger: pino({ level: 'silent' }) },
            options,
            scope.out,
          ),
        ),
      ),
    )
}

export interface DoctorOptions {
  dryRun?: boolean
  json?: boolean
}

export interface DoctorDeps {
  metadata: ShardedMetadata
  queue: QueueDriver
  reconcile: ReconcileSettings
  /** The shared metadata cache, when the entry point opened it: changed images are dropped. */
  cache?: { delete(key: string): Promise<void> }
  logger: Logger
}

/** `pixelflow doctor`: the reconciler's report on demand, the same sweep the relay runs. */
export async function doctorCommand(
  deps: DoctorDeps,
  values: DoctorOptions,
  out: (line: string) => void,
): Promise<number> {
  const { cache } = deps
  const report = await reconcileOnce(
    {
      metadata: deps.metadata,
      queue: deps.queue,
      settings: deps.reconcile,
      logger: deps.logger,
      onChanged: cache ? (id) => cache.delete(imageKey(id)) : undefined,
    },
    { dryRun: values.dryRun ?? false },
  )
  for (const line of values.json ? [JSON.stringify(report, null, 2)] : describe(report)) out(line)
  const found = report.stuck.length + report.dead.length + report.errors.length
  return found > 0 ? 1 : 0
}

function describe(report: ReconcileReport): string[] {
  const lines = [
    `${report.dryRun ? 'Dry run: nothing changed. ' : ''}${report.stuck.length} stuck images, ${report.dead.length} unfinished images of dead jobs, ${report.errors.length} errors.`,
  ]
  for (const s of report.stuck)
    lines.push(
      `stuck  ${s.id}  ${s.status} for ${Math.round(s.ageMs / 1000)} s, requeued ${s.requeues}×  → ${s.action}`,
    )
  for (const d of report.dead)
    lines.push(`dead   ${d.imageId}  ${d.status}, job ${d.jobId} dead  → ${d.action} ${d.code}`)
  for (const e of report.errors) lines.push(`error  ${e}`)
  return lines
}
