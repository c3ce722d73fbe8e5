import type { Command } from 'commander'
import type { Config } from '../config/schema.js'
import { createBackup, restoreBackup } from '../maintenance/backup.js'
import { createObjectStore } from '../storage/create-object-store.js'
import { EXIT, type MaintenanceDeps, type Scope } from './command.js'

type Out = (line: string) => void

export function registerBackup(program: Command, scope: Scope): void {
  program
    .command('backup')
    .summary('copy a running embedded install into an empty folder')
    .description(
      'copy a running embedded install (SQLite metadata, then objects) into an empty folder; ' +
        'PostgreSQL: see docs/operations.md',
    )
    .argument('<dir>', 'an empty folder')
    .action(
      scope.run((dir: string) => scope.withMaintenance((deps) => backup(deps, dir, scope.out))),
    )
  program
    .command('restore')
    .description("restore a backup into this config's empty install (stopped)")
    .argument('<dir>', 'a folder `pixelflow backup` wrote')
    // Before any port is opened: opening them would create the databases the restore fills.
    .action(scope.run((dir: string) => restore(scope.ctx.config(), dir, scope.out)))
}

async function backup(deps: MaintenanceDeps, dir: string, out: Out): Promise<number> {
  const moves = await deps.metadata.directoryStore.moves.list()
  const manifest = await createBackup(
    {
      config: deps.config,
      store: deps.store,
      shards: new Map(deps.metadata.shards().map((s) => [s.id, s.url])),
      movesInProgress: moves.filter((m) => m.phase !== 'done' && m.phase !== 'failed').length,
    },
    dir,
  )
  out(
    `Backed up the control database, ${Object.keys(manifest.shards).length} shards${manifest.queue ? ', the queue' : ''} and ${manifest.objects} objects (${manifest.objectBytes} bytes) into ${dir}`,
  )
  return EXIT.ok
}

async function restore(config: Config, dir: string, out: Out): Promise<number> {
  const manifest = await restoreBackup(dir, config, await createObjectStore(config.storage))
  out(
    `Restored ${Object.keys(manifest.shards).length} shards and ${manifest.objects} objects from ${dir}; start the service`,
  )
  return EXIT.ok
}
