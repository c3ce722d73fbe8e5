#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { createCache } from '../cache/create-cache.js'
import { restoreCommand } from '../cli/backup.js'
import { runCli } from '../cli/main.js'
import { loadConfig } from '../config/load.js'
import type { Image } from '../domain/image.js'
import { startTracing } from '../observability/tracing.js'
import { authTablesOf } from './control-db.js'
import { closeDeps, openDeps } from './deps.js'
import { createPixelflow, type Role } from './pixelflow.js'

/**
 * The one binary. This file and nothing below it reads process.env: the config is loaded once
 * here and passed down. `serve` runs everything in one process; `api`, `worker` and `relay` run one
 * part each (scale-out); the rest are admin commands.
 */
async function main(argv: string[]): Promise<number> {
  // Before anything is created: every file this process makes (databases, the SQLite queue,
  // objects, temp files) is its owner's alone, even where a driver does not set a mode itself.
  process.umask(0o077)
  const config = loadConfig(process.env)
  const [command = 'serve', ...rest] = argv
  // Admin commands touch every shard: a down one is an error there, not something to serve around.
  const openForCli = async () => {
    const opened = await openDeps(config, { requireAllShards: true })
    const deps = { ...opened, reconcile: config.reconcile }
    if (!MAINTENANCE_COMMANDS.includes(command)) return { ...deps, close: () => closeDeps(deps) }
    // gc, owners erase and backup also drop cache entries: the cache every process shares.
    const cache = await createCache<Image>(config.cache)
    const maintenance = {
      config,
      store: deps.store,
      metadata: deps.metadata,
      authTables: authTablesOf(deps.control),
      cache,
      registry: deps.metrics.registry,
    }
    return {
      ...deps,
      maintenance,
      close: async () => {
        await Promise.all([cache.close(), closeDeps(deps)])
      },
    }
  }
  // A restore fills an empty install: it runs before openDeps would create its databases.
  if (command === 'restore') return restoreCommand(config, rest, (l) => console.log(l))
  if (!isRole(command)) return runCli(command, rest, openForCli)
  parseArgs({ args: rest, options: {}, strict: true })
  const logger = pino({ level: config.log.level }).child({ role: command })
  // Before the app is built: the SDK must be registered before the first span is started.
  const stopTracing = await startTracing(config.tracing)
  // Only the origin: a collector URL may carry credentials.
  if (config.tracing.endpoint)
    logger.info(
      { endpoint: new URL(config.tracing.endpoint).origin },
      'tracing: exporting spans over OTLP',
    )
  const pixelflow = await createPixelflow(config, logger, command, stopTracing)
  await pixelflow.app.listen({ host: config.server.host, port: config.server.port })
  await pixelflow.metricsApp?.listen({ host: config.server.host, port: config.metrics.port })
  onSignals(async (signal) => {
    logger.info({ signal }, 'shutting down')
    // A shutdown that hangs is worse than one that is cut short: leases expire and jobs come back.
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 10_000).unref()
    await pixelflow.close()
    logger.info('shut down')
  })
  return -1
}

// doctor too: the images it fails must drop out of the shared cache, as a worker's failures do.
const MAINTENANCE_COMMANDS = ['gc', 'owners', 'backup', 'doctor']

function isRole(command: string): command is Role {
  return ['serve', 'api', 'worker', 'relay'].includes(command)
}

function onSignals(handler: (signal: string) => Promise<void>): void {
  let closing = false
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) return
      closing = true
      handler(signal).then(
        () => process.exit(0),
        () => process.exit(1),
      )
    })
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  },
)
