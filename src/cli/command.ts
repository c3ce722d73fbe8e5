import { type Command, InvalidArgumentError } from 'commander'
import type { Kysely } from 'kysely'
import type { Registry } from 'prom-client'
import type { ApiKeys } from '../auth/api-keys.js'
import type { AuthTables } from '../auth/tables.js'
import type { Config } from '../config/schema.js'
import type { CdnPurge } from '../maintenance/erase.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { QueueDriver } from '../queue/queue.js'
import type { ReconcileSettings } from '../reconcile/reconciler.js'
import type { ObjectStore } from '../storage/object-store.js'

/** What one process runs: `serve` everything, `api`, `worker` and `relay` one part each. */
export type Role = 'serve' | 'api' | 'worker' | 'relay'

/** What the maintenance commands (gc, owners, backup) use beyond the other commands' ports. */
export interface MaintenanceDeps {
  config: Config
  store: ObjectStore
  metadata: ShardedMetadata
  /** The control database typed with auth's tables (keys, settings). */
  authTables: Kysely<AuthTables>
  /** The metadata cache: with Redis, the one every process shares. */
  cache: { delete(key: string): Promise<void> }
  /** The CDN purge an erasure runs per image (PIXELFLOW_CDN_PURGE; none: nothing). */
  purge: CdnPurge
  registry: Registry
}

/** The ports the admin commands use; the entry point opens them (every shard up) and closes them. */
export interface CliDeps {
  apiKeys: ApiKeys
  queue: QueueDriver
  metadata: ShardedMetadata
  /** For gc, owners, backup and doctor: opened only when asked for (`open({ maintenance })`). */
  maintenance?: MaintenanceDeps
  /** The reconciler's thresholds, for doctor. */
  reconcile: ReconcileSettings
  close(): Promise<void>
}

/** Where output goes: the process's streams, or a test's buffers. */
export interface CliIo {
  out(text: string): void
  err(text: string): void
  /** A terminal on stdout: progress bars are drawn there; otherwise plain lines. */
  isTTY: boolean
  /** The stream progress bars draw on (stdout when it is a terminal). */
  stream?: NodeJS.WritableStream
}

/**
 * What the entry point hands the command line. Every part is called only by a command that needs
 * it, so `plan`, `--help` and the user commands never open a database, and a broken local config
 * does not stop `pixelflow upload` against a remote server.
 */
export interface CliContext {
  /** Opens the ports (every shard up); `maintenance` also opens the shared cache. */
  open(needs?: { maintenance?: boolean }): Promise<CliDeps>
  /** Starts a role; it keeps running until a signal stops it. */
  startRole(role: Role): Promise<void>
  /** This process's configuration (read from the environment by the entry point). */
  config(): Config
  /** PIXELFLOW_URL and PIXELFLOW_API_KEY, the user commands' defaults for --url and --key. */
  remote: { url?: string; apiKey?: string }
  io: CliIo
}

/** A command's exit code: set by its action, read once parsing is done. */
export interface Scope {
  ctx: CliContext
  /** Prints one line on stdout. */
  out(line: string): void
  /** Prints one line on stderr. */
  err(line: string): void
  /** Wraps an action so that the number it returns becomes the exit code. */
  run<A extends unknown[]>(
    action: (...args: A) => Promise<number> | number,
  ): (...args: A) => Promise<void>
  /** Opens the ports for one command and closes them after it, whatever happens. */
  withDeps(
    needs: { maintenance?: boolean },
    body: (deps: CliDeps) => Promise<number>,
  ): Promise<number>
  /** The same with the maintenance ports (gc, owners, backup, doctor) opened too. */
  withMaintenance(
    body: (maintenance: MaintenanceDeps, deps: CliDeps) => Promise<number>,
  ): Promise<number>
}

/** Exit codes: 0 done, 1 the work failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

export function createScope(ctx: CliContext, exit: { code: number }): Scope {
  const out = (line: string) => ctx.io.out(`${line}\n`)
  const err = (line: string) => ctx.io.err(`${line}\n`)
  const withDeps: Scope['withDeps'] = async (needs, body) => {
    const deps = await ctx.open(needs)
    try {
      return await body(deps)
    } finally {
      await deps.close()
    }
  }
  return {
    ctx,
    out,
    err,
    withDeps,
    withMaintenance: (body) =>
      withDeps({ maintenance: true }, (deps) => {
        if (!deps.maintenance) throw new Error('the entry point opened no maintenance ports')
        return body(deps.maintenance, deps)
      }),
    run:
      (action) =>
      async (...args) => {
        exit.code = await action(...args)
      },
  }
}

/** commander's argument parser for counts: a whole number of at least `min`. */
export function wholeNumber(min = 1) {
  return (text: string): number => {
    const n = Number(text)
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`expected a whole number of at least ${min}`)
    return n
  }
}

/** commander's argument parser for a quantity that must be above zero (fractions allowed). */
export function positiveNumber(text: string): number {
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a number above zero')
  return n
}

/** An API key id from before ids were kept from starting with '-' (1 in 64 did): 12 base64url characters. */
const DASHED_KEY_ID = /^-[A-Za-z0-9_-]{11}$/

/**
 * Lets a command take such a key id as its argument: commander would read `-Ab3…` as an unknown
 * option. A token of exactly that shape that is not one of the command's own options is taken as
 * an operand; everything else is parsed as usual (option values are taken whole by commander, so
 * `--grace-seconds -5` still reaches its parser).
 */
export function acceptDashedKeyIds(command: Command): Command {
  const parse = command.parseOptions.bind(command)
  command.parseOptions = (args: string[]) => {
    const isId = (arg: string, i: number) =>
      DASHED_KEY_ID.test(arg) &&
      !command.options.some((o) => o.short === arg || o.long === arg) &&
      !takesValue(command, args[i - 1])
    const ids = args.filter(isId)
    const parsed = parse(args.filter((arg, i) => !isId(arg, i)))
    return { operands: [...ids, ...parsed.operands], unknown: parsed.unknown }
  }
  return command
}

function takesValue(command: Command, previous: string | undefined): boolean {
  if (previous === undefined) return false
  const option = command.options.find((o) => o.long === previous || o.short === previous)
  return option !== undefined && (option.required || option.optional)
}
