#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { runCli } from '../cli/main.js'
import { loadConfig } from '../config/load.js'
import { closeDeps, openDeps } from './deps.js'
import { createPixelflow, type Role } from './pixelflow.js'

/**
 * The one binary. This file and nothing below it reads process.env: the config is loaded once
 * here and passed down. `serve` runs everything in one process; `api`, `worker` and `relay` run one
 * part each (scale-out); the rest are admin commands.
 */
async function main(argv: string[]): Promise<number> {
  const config = loadConfig(process.env)
  const [command = 'serve', ...rest] = argv
  // Admin commands touch every shard: a down one is an error there, not something to serve around.
  const openForCli = async () => {
    const deps = await openDeps(config, { requireAllShards: true })
    return { ...deps, close: () => closeDeps(deps) }
  }
  if (!isRole(command)) return runCli(command, rest, openForCli)
  parseArgs({ args: rest, options: {}, strict: true })
  const logger = pino({ level: config.log.level }).child({ role: command })
  const pixelflow = await createPixelflow(config, logger, command)
  await pixelflow.app.listen({ host: config.server.host, port: config.server.port })
  onSignals(async (signal) => {
    logger.info({ signal }, 'shutting down')
    // A shutdown that hangs is worse than one that is cut short: leases expire and jobs come back.
    setTimeout(() => process.exit(1), config.shutdownGraceMs + 10_000).unref()
    await pixelflow.close()
    logger.info('shut down')
  })
  return -1
}

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
