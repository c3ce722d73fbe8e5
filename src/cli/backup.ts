import { parseArgs } from 'node:util'
import type { Config } from '../config/schema.js'
import { createBackup, restoreBackup } from '../maintenance/backup.js'
import { createObjectStore } from '../storage/create-object-store.js'
import type { MaintenanceDeps } from './gc.js'

type Out = (line: string) => void

export const BACKUP_USAGE = `  backup <dir>                   copy a running embedded install (SQLite metadata, then objects)
                                 into an empty folder; PostgreSQL: see docs/operations.md
  restore <dir>                  restore a backup into this config's empty install (stopped)`

export async function backupCommand(
  deps: MaintenanceDeps,
  args: string[],
  out: Out,
): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true })
  const [dir] = positionals
  if (!dir || positionals.length > 1) {
    process.stderr.write(`Usage:\n${BACKUP_USAGE}\n`)
    return 2
  }
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
  return 0
}

/** Runs before any port is opened: opening them would create the databases the restore fills. */
export async function restoreCommand(config: Config, args: string[], out: Out): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true })
  const [dir] = positionals
  if (!dir || positionals.length > 1) {
    process.stderr.write(`Usage:\n${BACKUP_USAGE}\n`)
    return 2
  }
  const manifest = await restoreBackup(dir, config, await createObjectStore(config.storage))
  out(
    `Restored ${Object.keys(manifest.shards).length} shards and ${manifest.objects} objects from ${dir}; start the service`,
  )
  return 0
}
