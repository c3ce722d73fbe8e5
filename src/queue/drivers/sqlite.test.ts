import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { describeQueueDriver, fakeClock } from '../../../test/contracts/queue-driver.contract.js'
import type { QueueDriver } from '../queue.js'
import { createSqliteQueue } from './sqlite.js'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-queue-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

// A fake clock, so the suite never sleeps and checks every time boundary to the millisecond.
// Jitter pinned mid-range: a zero delay would make "not visible right after a failure" flaky.
const CONTRACT = {
  clock: fakeClock(),
  leaseMs: 30_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 60_000,
  settleMs: 0,
  capabilities: { dedupesById: true, reportsOldestAge: true },
}
describeQueueDriver('sqlite', CONTRACT, async (opts) =>
  createSqliteQueue({ path: join(await tempDir(), 'queue.db'), random: () => 0.5, ...opts }),
)

const FAR_LEASE = { leaseMs: 3_600_000, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 }
const jobs = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `job-${i}`, payload: String(i) }))

/** Every id exactly once: a duplicate means two holders leased the same job at the same time. */
function expectEachOnce(received: string[], n: number) {
  expect(received).toHaveLength(n)
  expect(new Set(received).size).toBe(n)
}

describe('sqlite queue: several connections on one file', () => {
  it('never leases one job to two connections across interleaved receives', async () => {
    const path = join(await tempDir(), 'queue.db')
    const drivers: QueueDriver[] = [createSqliteQueue({ path, ...FAR_LEASE }), createSqliteQueue({ path, ...FAR_LEASE })]
    try {
      await drivers[0]!.enqueue(jobs(200))
      const received: string[] = []
      for (let round = 0; received.length < 200 && round < 500; round++) {
        const batches = await Promise.all(drivers.flatMap((d) => [d.receive(1 + (round % 3)), d.receive(2)]))
        received.push(...batches.flat().map((job) => job.id))
      }
      expectEachOnce(received, 200)
      expect(await drivers[1]!.receive(10)).toEqual([])
    } finally {
      await Promise.all(drivers.map((d) => d.close()))
    }
  })

  // better-sqlite3 is synchronous, so one process cannot overlap two claims: real processes can.
  it('never leases one job to two processes', async () => {
    const dir = await tempDir()
    const path = join(dir, 'queue.db')
    const seed = createSqliteQueue({ path, ...FAR_LEASE })
    await seed.enqueue(jobs(600))
    await seed.close()
    const script = join(dir, 'consumer.mts')
    await writeFile(script, consumerScript(), 'utf8')
    const children = [0, 1, 2].map(() => startConsumer(script, path))
    await Promise.all(children.map((c) => c.ready))
    for (const c of children) c.go()
    const results = await Promise.all(children.map((c) => c.done))
    expectEachOnce(results.flat(), 600)
  })
})

const driverUrl = new URL('./sqlite.ts', import.meta.url).href
const projectRoot = fileURLToPath(new URL('../../../', import.meta.url))

function consumerScript(): string {
  return `
import { createSqliteQueue } from ${JSON.stringify(driverUrl)}
const queue = createSqliteQueue({ path: process.argv[2], ...${JSON.stringify(FAR_LEASE)} })
process.stdout.write('ready\\n')
await new Promise((go) => process.stdin.once('data', go))
const ids = []
for (let max = 1; ; max = (max % 3) + 1) {
  const jobs = await queue.receive(max)
  if (jobs.length === 0) break
  ids.push(...jobs.map((job) => job.id))
  await new Promise((next) => setTimeout(next, 1)) // "work", so the consumers overlap
}
await queue.close()
process.stdout.write(JSON.stringify(ids) + '\\n', () => process.exit(0))
`
}

function startConsumer(script: string, path: string) {
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
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`consumer exited with ${code}: ${err}`))
      resolve(JSON.parse(out.slice('ready\n'.length)) as string[])
    })
  })
  return { ready, done, go: () => child.stdin.end('go\n') }
}
