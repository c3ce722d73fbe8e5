import { readdirSync } from 'node:fs'
import { setPriority } from 'node:os'
import type { Command } from 'commander'
import sharp from 'sharp'
import type { CacheConfig } from '../config/schema.js'
import { cachedImageKey } from '../maintenance/erase.js'
import { reprocessImages } from '../worker/reprocess.js'
import { EXIT, positiveNumber, type Scope } from './command.js'

interface ReprocessFlags {
  owner?: string
  all?: boolean
  rate: number
  json?: boolean
}

/** The lowest CPU priority (nice 19): the operating system runs uploads' work first. */
const LOWEST = 19

/**
 * `pixelflow images reprocess --owner <id> | --all`: renders again, on this machine, the variants
 * of images whose presets changed (src/worker/reprocess.ts), throttled so uploads keep the CPU.
 */
export function registerReprocess(images: Command, scope: Scope): void {
  const command = images
    .command('reprocess')
    .summary("render variants again after a preset's settings changed")
    .description(
      'render again, here, the variants of ready images whose presets changed (width, watermark, quality), one image at a time at the lowest CPU priority; new variants get new versioned URLs, the old objects go once no cache can still point at them. Images already up to date are skipped: run it again after an interruption',
    )
    .option('--owner <id>', "one owner's images")
    .option('--all', "every owner's images")
    .option('--rate <n>', 'images started per second at most', positiveNumber, 2)
    .option('--json', 'the report as JSON')
  command.action(
    scope.run(async (flags: ReprocessFlags) => {
      if (Boolean(flags.owner) === Boolean(flags.all))
        command.error('error: name one of --owner <id> or --all')
      yieldTheCpu()
      return scope.withMaintenance(async (deps) => {
        const { config } = deps
        const report = await reprocessImages(
          {
            metadata: deps.metadata,
            store: deps.store,
            processing: config.processing,
            limits: config.limits,
            onChanged: (id) => deps.cache.delete(cachedImageKey(id)),
            purge: deps.purge,
            staleForMs: staleFor(config.cache),
          },
          {
            ...(flags.owner ? { ownerId: flags.owner } : {}),
            ratePerSecond: flags.rate,
            onReprocessed: (image) => {
              if (!flags.json) scope.out(`  ${image.id} reprocessed`)
            },
            onFailed: (image, error) =>
              scope.err(`  ${image.id} not reprocessed: ${(error as Error).message}`),
          },
        )
        scope.out(
          flags.json
            ? JSON.stringify(report)
            : `Checked ${report.checked} ready images: ${report.reprocessed} reprocessed, ${report.failed} failed, ${report.gone} deleted meanwhile, ${report.deletedObjects} old objects deleted`,
        )
        return report.failed > 0 ? EXIT.failed : EXIT.ok
      })
    }),
  )
}

/**
 * Nice 19 for every thread of this process (Linux sets it per thread; threads started later, such
 * as libvips' workers, inherit it), and one libvips thread per operation: reprocessing takes at
 * most about one core, and only the time the service leaves idle.
 */
function yieldTheCpu(): void {
  sharp.concurrency(1)
  let tasks: string[] = []
  try {
    tasks = readdirSync('/proc/self/task')
  } catch {
    // Not Linux: the whole process at once is what the platform offers.
  }
  if (tasks.length === 0) setPriority(LOWEST)
  for (const tid of tasks) {
    try {
      setPriority(Number(tid), LOWEST)
    } catch {
      // A thread that ended meanwhile.
    }
  }
}

/** How long a process may serve an image's old rows from memory: old objects outlive them this long. */
function staleFor(cache: CacheConfig): number {
  return cache.driver === 'redis' ? cache.l1TtlMs : cache.ttlMs
}
