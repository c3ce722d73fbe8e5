import { parseArgs } from 'node:util'
import type { Config } from '../config/schema.js'
import { openDeps } from '../start/pixelflow.js'

const USAGE = `Usage: pixelflow <command>

  serve                          API, outbox relay and workers in one process (default)
  keys create --owner <id>       create an API key for an owner; prints it once
  migrate                        create or update every shard and the control database
  dead list [--limit N]          list dead-lettered jobs with their error history
  dead redrive <job-id>          put a dead job back in the queue
`

/** Admin commands. Each opens the ports it needs from the already-loaded config. */
export async function runCli(config: Config, command: string, args: string[]): Promise<number> {
  if (command === 'help' || command === '--help') return print(USAGE, 0)
  const deps = await openDeps(config)
  try {
    switch (command) {
      case 'keys':
        return await keys(deps, args)
      case 'migrate':
        return print(`Migrated ${config.metadata.shards.length} shards and the control database.`, 0)
      case 'dead':
        return await dead(deps, args)
      default:
        return print(`Unknown command: ${command}\n\n${USAGE}`, 2)
    }
  } finally {
    await Promise.allSettled([deps.queue.close(), deps.metadata.close(), deps.control.destroy()])
  }
}

type Deps = Awaited<ReturnType<typeof openDeps>>

async function keys(deps: Deps, args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, options: { owner: { type: 'string' } }, allowPositionals: true })
  if (positionals[0] !== 'create' || !values.owner) return print(USAGE, 2)
  const { key } = await deps.apiKeys.create(values.owner)
  return print(key, 0)
}

async function dead(deps: Deps, args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, options: { limit: { type: 'string' } }, allowPositionals: true })
  const [action, id] = positionals
  if (action === 'list') return print(JSON.stringify(await deps.queue.listDead(Number(values.limit ?? 50)), null, 2), 0)
  if (action === 'redrive' && id) return print((await deps.queue.redrive(id)) ? `Redriven ${id}` : `No dead job ${id}`, 0)
  return print(USAGE, 2)
}

function print(text: string, code: number): number {
  ;(code === 0 ? process.stdout : process.stderr).write(`${text}\n`)
  return code
}
