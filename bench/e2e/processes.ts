/**
 * The end-to-end part's processes: the service as deployed (`node dist/start/main.js <role>`),
 * each on a free port of 127.0.0.1, started, waited for (GET /readyz) and stopped (SIGTERM).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from '../harness/async.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const MAIN = join(ROOT, 'dist', 'start', 'main.js')
export const HOST = '127.0.0.1'

/** Builds dist/ when it is missing or older than the sources, so the figures belong to the code in src/. */
export function ensureBuilt(): void {
  const newestSource = newestMtime(join(ROOT, 'src'))
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= newestSource) return
  console.error(
    existsSync(MAIN) ? '  dist/ is older than src/: npm run build' : '  no dist/: npm run build',
  )
  execFileSync('npm', ['run', 'build'], {
    cwd: ROOT,
    stdio: ['ignore', process.stderr, process.stderr],
  })
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A new API key for `owner` in the data dir that `env` names (`pixelflow keys create`). */
export function createApiKey(env: Record<string, string>, owner: string): string {
  return execFileSync(process.execPath, [MAIN, 'keys', 'create', '--owner', owner], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  }).trim()
}

/**
 * `node dist/start/main.js <args>` with the bench env (a key set to undefined is removed from
 * ours); its logs (warnings and errors only) go to our stderr.
 */
export function startPixelflow(
  args: string[],
  env: Record<string, string | undefined>,
): ChildProcess {
  const merged = Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: Object.fromEntries(merged),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child.stdout!.on('data', (chunk: Buffer) => process.stderr.write(chunk))
  return child
}

export async function untilReady(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `pixelflow ${child.spawnargs.slice(2).join(' ')} exited (${child.exitCode}) before it was ready`,
      )
    const ok = await fetch(`http://${HOST}:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return
    if (Date.now() > deadline) throw new Error(`port ${port} not ready within 30 s`)
    await sleep(50)
  }
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}
