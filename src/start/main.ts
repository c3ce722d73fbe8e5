#!/usr/bin/env node
import { pino } from 'pino'
import { resolveSigningKeys } from '../auth/signing-keys.js'
import { createCache } from '../cache/create-cache.js'
import { runCli } from '../cli/main.js'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import type { Image } from '../domain/image.js'
import { startTracing } from '../observability/tracing.js'
import { createCdnPurge } from '../transforms/cdn-purge.js'
import { authTablesOf } from './control-db.js'
import { closeDeps, openDeps } from './deps.js'
import { createPixelflow, type Role } from './pixelflow.js'

/**
 * The one binary. This file and nothing below it reads process.env: the config is loaded here,
 * once, when a command first needs it (so `--help`, `plan` and the user commands run whatever the
 * local PIXELFLOW_* say), and passed down. `serve` runs everything in one process; `api`,
 * `worker` and `relay` run one part each (scale-out); src/cli has the rest.
 */
async function main(argv: string[]): Promise<number> {
  // Before anything is created: every file this process makes (databases, the SQLite queue,
  // objects, temp files) is its owner's alone, even where a driver does not set a mode itself.
  process.umask(0o077)
  let loaded: Config | undefined
  const config = () => {
    loaded ??= loadConfig(process.env)
    return loaded
  }
  return runCli(argv, {
    config,
    open: (needs) => openForCli(config(), needs?.maintenance ?? false),
    startRole: (role) => startRole(config(), role),
    remote: { url: process.env.PIXELFLOW_URL, apiKey: process.env.PIXELFLOW_API_KEY },
    io: {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      isTTY: process.stdout.isTTY === true,
      stream: process.stdout,
    },
  })
}

/**
 * The admin commands' ports. They touch every shard: a down one is an error there, not something
 * to serve around. gc, owners erase, backup and doctor also drop cache entries: the cache every
 * process shares (doctor: the images it fails must drop out of it, as a worker's failures do).
 */
async function openForCli(config: Config, maintenance: boolean) {
  const opened = await openDeps(config, { requireAllShards: true })
  const deps = { ...opened, reconcile: config.reconcile }
  if (!maintenance) return { ...deps, close: () => closeDeps(deps) }
  const cache = await createCache<Image>(config.cache)
  const authTables = authTablesOf(deps.control)
  const signingKeys = await resolveSigningKeys(config.delivery, authTables)
  const logger = pino({ level: config.log.level })
  const cdn = await createCdnPurge(config, deps.store, signingKeys, logger)
  return {
    ...deps,
    maintenance: {
      config,
      store: deps.store,
      metadata: deps.metadata,
      authTables,
      cache,
      purge: cdn.purge,
      registry: deps.metrics.registry,
    },
    close: async () => {
      await Promise.all([cache.close(), cdn.close(), closeDeps(deps)])
    },
  }
}

/** Starts a role; signals stop it (the process keeps running until then). */
async function startRole(config: Config, role: Role): Promise<void> {
  const logger = pino({ level: config.log.level }).child({ role })
  // Before the app is built: the SDK must be registered before the first span is started.
  const stopTracing = await startTracing(config.tracing)
  // Only the origin: a collector URL may carry credentials.
  if (config.tracing.endpoint)
    logger.info(
      { endpoint: new URL(config.tracing.endpoint).origin },
      'tracing: exporting spans over OTLP',
    )
  const pixelflow = await createPixelflow(config, logger, role, stopTracing)
  await pixelflow.app.listen({ host: config.server.host, port: config.server.port })
  await pixelflow.metricsApp?.listen({ host: config.server.host, port: config.metrics.port })
  onSignals(async (signal) => {
    logger.info({ signal }, 'shutting down')
    // A shutdown that hangs is worse than one that is cut short: leases expire and jobs come back.
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 10_000).unref()
    await pixelflow.close()
    logger.info('shut down')
  })
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
