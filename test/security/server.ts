import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createPixelflow, type Pixelflow } from '../../src/start/pixelflow.js'
import { eventually, GiveUp } from '../fixtures/eventually.js'

export interface LogLine {
  level: number
  msg?: string
  [key: string]: unknown
}

/** pino's numeric levels. */
export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const

export interface Server {
  pf: Pixelflow
  config: Config
  dir: string
  url: string
  port: number
  key: string
  /** Every log line the server wrote so far, parsed. */
  logs(): LogLine[]
  /** Raw log output, for "this string never appears" checks. */
  rawLogs(): string
  /** Files under the object store root: temp files and folders included. */
  storeEntries(): Promise<string[]>
  /** Image rows and outbox rows in every shard. */
  rows(): Promise<{ images: number; outbox: number }>
  close(): Promise<void>
}

/**
 * The whole service in this process, listening on a free port of 127.0.0.1 like `pixelflow serve`
 * (the same createPixelflow, the same config loading), with its log captured at debug level.
 */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-security-'))
  const config = loadConfig({
    PIXELFLOW_DATA_DIR: dir,
    PIXELFLOW_WORKER_CONCURRENCY: '1',
    PIXELFLOW_WORKER_POLL_MS: '20',
    ...env,
  })
  let raw = ''
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw += chunk.toString()
      done()
    },
  })
  const pf = await createPixelflow(config, pino({ level: 'debug' }, sink))
  const key = (await pf.deps.apiKeys.create('alice')).key
  await pf.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = pf.app.server.address() as { port: number }
  const root = join(dir, 'objects')
  return {
    pf,
    config,
    dir,
    url: `http://127.0.0.1:${port}`,
    port,
    key,
    logs: () =>
      raw
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LogLine),
    rawLogs: () => raw,
    async storeEntries() {
      const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])
      return entries
        .map(
          (e) =>
            `${join(e.parentPath, e.name).slice(root.length + 1)}${e.isDirectory() ? '/' : ''}`,
        )
        .sort()
    },
    async rows() {
      let images = 0
      let outbox = 0
      for (const handle of pf.deps.metadata.shards()) {
        const shard = await pf.deps.metadata.shard(handle.id)
        const counted = await shard.db
          .selectFrom('images')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
        images += Number(counted.n)
        outbox += (await shard.readOutbox(1000)).length
      }
      return { images, outbox }
    },
    async close() {
      await pf.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A raw TCP connection to the server, to send exactly the bytes a hostile client would. */
export async function rawSocket(port: number): Promise<{
  socket: Socket
  received: () => string
  closed: Promise<void>
}> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (d) => (received += d.toString('latin1')))
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => {})
  return { socket, received: () => received, closed }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface Binary {
  child: ChildProcess
  url: string
  output: () => string
  stop(): Promise<void>
}

/** The real `pixelflow` binary from the sources (tsx), as `npm run pixelflow -- serve` runs it. */
export async function startBinary(env: Record<string, string>, port: number): Promise<Binary> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/start/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PIXELFLOW_WORKER_CONCURRENCY: '1',
      ...env,
      PIXELFLOW_PORT: String(port),
      PIXELFLOW_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = once(child, 'exit')
  const url = `http://127.0.0.1:${port}`
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new GiveUp(`it exited early (${child.exitCode ?? child.signalCode})`)
        const res = await fetch(`${url}/healthz`)
        if (!res.ok) throw new Error(`/healthz answered ${res.status}`)
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'the binary became healthy' },
    )
  } catch (error) {
    child.kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n${output}`, { cause: error })
  }
  return {
    child,
    url,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
