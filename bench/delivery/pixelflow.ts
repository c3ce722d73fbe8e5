/**
 * Pixelflow for the delivery part: the real server process (`node dist/start/main.js serve`,
 * what `npm start` runs) on one data folder, its API key, the sources uploaded and processed,
 * signed transform URLs, and its own counters (GET /metrics) that prove what a run measured.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTransformSigner } from '../../src/domain/signed-urls.js'
import { parseOptions, transformPath } from '../../src/transforms/options.js'
import { ensureBuilt, freePort, HOST, MAIN, stop, untilReady } from '../e2e/processes.js'
import { sleep } from '../harness/async.js'
import { RATE_LIMITS_OFF } from '../harness/config.js'
import type { Source } from './sources.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SIGNING_SECRET = 'pixelflow-bench-delivery-signing-secret'

/** How the server is started: compiled, as `npm start` runs it. */
export interface Runtime {
  command: string[]
  note: string
}

/** dist/, built first when it is missing or older than src/ (bench/e2e's ensureBuilt). */
export function pixelflowRuntime(): Runtime {
  ensureBuilt()
  return { command: [process.execPath, MAIN], note: 'dist/' }
}

/**
 * The server's settings: local disk store under `dataDir`, logs at warn, the anonymous per-IP
 * limit far above what the load generator sends, and a render queue long enough for its burst.
 * Any PIXELFLOW_TRANSFORM_* or PIXELFLOW_VIPS_* set in the environment wins (to measure variants).
 */
export function pixelflowEnv(dataDir: string, port: number): Record<string, string> {
  const tunable: Record<string, string> = { PIXELFLOW_TRANSFORM_QUEUE: '1000' }
  for (const [name, value] of Object.entries(process.env))
    if (/^PIXELFLOW_(TRANSFORM|VIPS|WORKER)_/.test(name) && value !== undefined)
      tunable[name] = value
  return {
    ...RATE_LIMITS_OFF,
    PIXELFLOW_RATE_LIMIT_ANONYMOUS: '100000000',
    ...tunable,
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_HOST: HOST,
    PIXELFLOW_PORT: String(port),
    PIXELFLOW_LOG_LEVEL: 'warn',
    PIXELFLOW_URL_SIGNING_KEYS: `bench:${SIGNING_SECRET}`,
    // Read by the bench for the render counters; on the main port, which is loopback only.
    PIXELFLOW_METRICS_PUBLIC: 'true',
  }
}

export interface PixelflowServer {
  url: string
  pid: number
  child: ChildProcess
  stop(): Promise<void>
}

export async function startPixelflowServer(
  runtime: Runtime,
  dataDir: string,
): Promise<PixelflowServer> {
  const port = await freePort()
  const [command, ...args] = runtime.command
  const child = spawn(command!, [...args, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...pixelflowEnv(dataDir, port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child.stdout!.on('data', (chunk: Buffer) => process.stderr.write(chunk))
  try {
    await untilReady(port, child)
  } catch (error) {
    await stop(child)
    throw error
  }
  return { url: `http://${HOST}:${port}`, pid: child.pid!, child, stop: () => stop(child) }
}

/** `pixelflow keys create --owner bench` on the data folder: the key it prints. */
export function createApiKey(runtime: Runtime, dataDir: string): string {
  const [command, ...args] = runtime.command
  const out = execFileSync(command!, [...args, 'keys', 'create', '--owner', 'bench'], {
    cwd: ROOT,
    env: { ...process.env, ...pixelflowEnv(dataDir, 0) },
    encoding: 'utf8',
  })
  const key = out.trim().split('\n').at(-1)?.trim()
  if (!key) throw new Error(`keys create printed no key: ${out}`)
  return key
}

/** Uploads every source (multipart `file`) and waits until each image is `ready`: their ids, in order. */
export async function uploadSources(
  url: string,
  key: string,
  sources: readonly Source[],
): Promise<string[]> {
  const authorization = `Bearer ${key}`
  const ids = await Promise.all(
    sources.map(async (source) => {
      const form = new FormData()
      form.append(
        'file',
        new Blob([await readFile(source.path)], { type: 'image/jpeg' }),
        source.name,
      )
      const response = await fetch(`${url}/v1/images`, {
        method: 'POST',
        headers: { authorization },
        body: form,
      })
      if (response.status !== 202)
        throw new Error(`upload of ${source.name}: ${response.status} ${await response.text()}`)
      return ((await response.json()) as { id: string }).id
    }),
  )
  const deadline = Date.now() + 300_000
  for (const id of ids) {
    for (;;) {
      const response = await fetch(`${url}/v1/images/${id}`, { headers: { authorization } })
      const { status } = (await response.json()) as { status: string }
      if (status === 'ready') break
      if (status === 'failed') throw new Error(`image ${id} failed processing`)
      if (Date.now() > deadline) throw new Error(`image ${id} still ${status} after 5 min`)
      await sleep(100)
    }
  }
  return ids
}

const signer = createTransformSigner([{ kid: 'bench', secret: SIGNING_SECRET }])

/** `/t/<signature>/<canonical options>/<id>` for options such as `w:512,q:80,f:webp`. */
export function transformUrl(options: string, id: string): string {
  const { canonical } = parseOptions(options)
  return `/t/${signer.sign(transformPath(canonical, id))}/${canonical}/${id}`
}

/** Derived objects live at objects/images/<id>/t/: removed between miss runs (server stopped). */
export async function removeDerived(dataDir: string): Promise<number> {
  const images = join(dataDir, 'objects', 'images')
  let removed = 0
  for (const id of await readdir(images)) {
    const derived = join(images, id, 't')
    if (!existsSync(derived)) continue
    removed += (await readdir(derived, { recursive: true })).length
    await rm(derived, { recursive: true, force: true })
  }
  return removed
}

export type TransformCounts = Record<'stored' | 'rendered' | 'shared' | 'busy', number>

/** pixelflow_transforms_total by result, from the server's /metrics. */
export async function transformCounts(url: string): Promise<TransformCounts> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const counts: TransformCounts = { stored: 0, rendered: 0, shared: 0, busy: 0 }
  for (const match of text.matchAll(/^pixelflow_transforms_total\{result="(\w+)"\} (\d+)/gm))
    if (match[1]! in counts) counts[match[1] as keyof TransformCounts] = Number(match[2])
  return counts
}

export function countsSince(after: TransformCounts, before: TransformCounts): TransformCounts {
  return {
    stored: after.stored - before.stored,
    rendered: after.rendered - before.rendered,
    shared: after.shared - before.shared,
    busy: after.busy - before.busy,
  }
}
