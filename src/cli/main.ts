import { parseArgs } from 'node:util'
import { pino } from 'pino'
import type { ApiKeys } from '../auth/api-keys.js'
import { parseScopes, SCOPES } from '../auth/principal.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { QueueDriver } from '../queue/queue.js'
import type { ReconcileSettings } from '../reconcile/reconciler.js'
import { BACKUP_USAGE, backupCommand } from './backup.js'
import { DOCTOR_USAGE, doctorCommand } from './doctor.js'
import { parseDurationSeconds } from './duration.js'
import { GC_USAGE, gcCommand, type MaintenanceDeps } from './gc.js'
import { OWNERS_USAGE, ownersCommand } from './owners.js'
import { PLAN_USAGE, planCommand } from './plan.js'
import { SHARDS_USAGE, shardsCommand } from './shards.js'

const USAGE = `Usage: pixelflow <command>

  serve                          API, outbox relay and workers in one process (default)
  api                            the HTTP API and the outbox relay (PIXELFLOW_RELAY_ENABLED=false: API only)
  worker                         job processing, with /healthz, /readyz and /metrics on PIXELFLOW_PORT
  relay                          only the outbox relay (when the API runs without it)
  keys create --owner <id> [--scopes images:read,images:write,admin]
                                 create an API key for an owner; prints it once
  keys list [--owner <id>]       list keys (ids, owners, scopes, revocation), never secrets
  keys revoke <key-id>           stop a key at once
  keys rotate <key-id> [--grace-seconds N]
                                 issue a new key with the same owner and scopes; the old one
                                 keeps working for N (seconds, or 45s, 30m, 1h, 2d; default 1d,
                                 at most 30d), then stops; revoke stops it at once
  migrate                        create or update every shard and the control database
  dead list [--limit N]          list dead-lettered jobs with their error history
  dead redrive <job-id>          put a dead job back in the queue
${DOCTOR_USAGE}
${PLAN_USAGE}
${SHARDS_USAGE}
${GC_USAGE}
${OWNERS_USAGE}
${BACKUP_USAGE}
`

/** The ports the admin commands use; the entry point opens them (every shard up) and closes them. */
export interface CliDeps {
  apiKeys: ApiKeys
  queue: QueueDriver
  metadata: ShardedMetadata
  /** For gc, owners and backup (the entry point opens the cache for them too). */
  maintenance?: MaintenanceDeps
  /** The reconciler's thresholds, for doctor. */
  reconcile: ReconcileSettings
  close(): Promise<void>
}

/** Admin commands. `open` is called only for a command that needs the ports. */
export async function runCli(
  command: string,
  args: string[],
  open: () => Promise<CliDeps>,
): Promise<number> {
  if (command === 'help' || command === '--help') return print(USAGE, 0)
  // Commands that need no port answer before any database is opened.
  if (command === 'plan') return planCommand(args, (line) => process.stdout.write(`${line}\n`))
  const deps = await open()
  try {
    switch (command) {
      case 'keys':
        return await keys(deps, args)
      case 'migrate':
        return print(
          `Migrated ${deps.metadata.shards().length} shards and the control database.`,
          0,
        )
      case 'dead':
        return await dead(deps, args)
      case 'doctor':
        return await doctorCommand(
          { ...deps, cache: deps.maintenance?.cache, logger: pino({ level: 'silent' }) },
          args,
          (line) => process.stdout.write(`${line}\n`),
        )
      case 'shards':
        return await shardsCommand(deps.metadata, args, (line) => process.stdout.write(`${line}\n`))
      case 'gc':
      case 'owners':
      case 'backup': {
        if (!deps.maintenance) return print(`${command}: not available here`, 2)
        const run = { gc: gcCommand, owners: ownersCommand, backup: backupCommand }[command]
        return await run(deps.maintenance, args, (line) => process.stdout.write(`${line}\n`))
      }
      default:
        return print(`Unknown command: ${command}\n\n${USAGE}`, 2)
    }
  } finally {
    await deps.close()
  }
}

type Deps = CliDeps

/** A grace period is for clients to switch keys; 30 days is already generous. */
const MAX_GRACE_SECONDS = 30 * 86_400

async function keys(deps: Deps, args: string[]): Promise<number> {
  const options = {
    owner: { type: 'string' },
    scopes: { type: 'string' },
    'grace-seconds': { type: 'string' },
  } as const
  const { positionals, values } = parseArgs({ args, options, allowPositionals: true })
  const [action, id] = positionals
  switch (action) {
    case 'create': {
      if (!values.owner) return print(USAGE, 2)
      const scopes = values.scopes === undefined ? undefined : parseScopes(values.scopes)
      if (scopes?.length === 0)
        return print(`Unknown scopes: ${values.scopes} (known: ${SCOPES.join(', ')})`, 2)
      return print((await deps.apiKeys.create(values.owner, scopes)).key, 0)
    }
    case 'list':
      return print(JSON.stringify(await deps.apiKeys.list(values.owner), null, 2), 0)
    case 'revoke':
      if (!id) return print(USAGE, 2)
      return (await deps.apiKeys.revoke(id))
        ? print(`Revoked ${id}`, 0)
        : print(`No active key ${id}`, 1)
    case 'rotate': {
      if (!id) return print(USAGE, 2)
      let graceSeconds: number
      try {
        graceSeconds = parseDurationSeconds(values['grace-seconds'] ?? '86400', MAX_GRACE_SECONDS)
      } catch (error) {
        return print(`--grace-seconds: ${(error as Error).message}`, 2)
      }
      const fresh = await deps.apiKeys.rotate(id, graceSeconds * 1000)
      return fresh ? print(fresh.key, 0) : print(`No active key ${id}`, 1)
    }
    default:
      return print(USAGE, 2)
  }
}

async function dead(deps: Deps, args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    options: { limit: { type: 'string' } },
    allowPositionals: true,
  })
  const [action, id] = positionals
  if (action === 'list')
    return print(JSON.stringify(await deps.queue.listDead(Number(values.limit ?? 50)), null, 2), 0)
  if (action === 'redrive' && id)
    return print((await deps.queue.redrive(id)) ? `Redriven ${id}` : `No dead job ${id}`, 0)
  return print(USAGE, 2)
}

function print(text: string, code: number): number {
  ;(code === 0 ? process.stdout : process.stderr).write(`${text}\n`)
  return code
}
