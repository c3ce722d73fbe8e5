import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSqliteQueue } from '../../src/queue/drivers/sqlite.js'

const JOBS = 1200
const PROCESSES = 4
const CONCURRENCY = 8
const OPTIONS = { leaseMs: 600_000, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 }

/**
 * The embedded queue shared by 4 processes, each with 8 concurrent consumers that receive, "work"
 * and ack: every job is leased exactly once, and every ack of a lease succeeds. A job leased to two
 * holders at once would show as a duplicate id or a refused ack.
 */
describe('the SQLite queue under 4 processes × 8 concurrency', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-sqlite-queue-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('never leases a job to two holders at once', async () => {
    const path = join(dir, 'queue.db')
    const seed = createSqliteQueue({ path, ...OPTIONS })
    await seed.enqueue(
      Array.from({ length: JOBS }, (_, i) => ({ id: `job-${i}`, payload: String(i) })),
    )
    await seed.close()
    const script = join(dir, 'consumer.mts')
    await writeFile(script, consumerScript(), 'utf8')
    const children = Array.from({ length: PROCESSES }, () => runConsumer(script, path))
    await Promise.all(children.map((c) => c.ready))
    for (const c of children) c.go()
    const results = await Promise.all(children.map((c) => c.done))
    const leased = results.flatMap((r) => r.ids)
    expect(leased).toHaveLength(JOBS)
    expect(new Set(leased).size).toBe(JOBS)
    expect(results.reduce((sum, r) => sum + r.refusedAcks, 0)).toBe(0)
    // The claims really competed: several processes took jobs (on a loaded machine one may start late).
    expect(results.filter((r) => r.ids.length > 0).length).toBeGreaterThanOrEqual(2)
    const after = createSqliteQueue({ path, ...OPTIONS })
    expect(await after.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 })
    await after.close()
  }, 120_000)
})

const driverUrl = new URL('../../src/queue/drivers/sqlite.ts', import.meta.url).href
const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

function consumerScript(): string {
  return `
import { createSqliteQueue } from ${JSON.stringify(driverUrl)}
const queue = createSqliteQueue({ path: process.argv[2], ...${JSON.stringify(OPTIONS)} })
process.stdout.write('ready\\n')
await new Promise((go) => process.stdin.once('data', go))
const ids = []
let refusedAcks = 0
async function consumer() {
  for (;;) {
    const [job] = await queue.receive(1)
    if (!job) return
    ids.push(job.id)
    // Work, so holders overlap. Long enough that one process cannot drain the queue while the
    // others sleep in SQLite's busy handler (its waits grow to 100 ms): with 0-3 ms, one process
    // took all 1,200 jobs on a loaded CI machine and the test could not show competing claims.
    await new Promise((next) => setTimeout(next, 2 + Math.random() * 4))
    if (!(await queue.ack(job.id, job.token))) refusedAcks++
  }
}
await Promise.all(Array.from({ length: ${CONCURRENCY} }, consumer))
await queue.close()
process.stdout.write(JSON.stringify({ ids, refusedAcks }) + '\\n', () => process.exit(0))
`
}

function runConsumer(script: string, path: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, path], { cwd: projectRoot })
  let out = ''
  let err = ''
  child.stderr.on('data', (chunk) => (err += chunk))
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.startsWith('ready\n')) resolve()
    })
    child.on('close', () => reject(new Error(`consumer exited before it was ready: ${err}`)))
  })
  const done = new Promise<{ ids: string[]; refusedAcks: number }>((resolve, reject) => {
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.slice('ready\n'.length)))
        : reject(new Error(`consumer exited with ${code}: ${err}`)),
    )
  })
  return { ready, done, go: () => child.stdin.end('go\n') }
}
