import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { checkLedger } from '../../test/faults/ledger.js'
import { eventually } from '../../test/fixtures/eventually.js'
import { makeJpeg } from '../../test/fixtures/images.js'
import { createTestDatabases, PG_URL, type TestDatabases } from '../../test/fixtures/postgres.js'
import { freePort, type ServeProcess, startRole } from '../../test/fixtures/serve-process.js'
import { startTcpProxy, type TcpProxy } from '../../test/fixtures/tcp-proxy.js'
import { type OwnRedis, ownRedis } from '../../test/integration/fixtures/own-redis.js'
import {
  createVhost,
  deleteVhost,
  rabbitmqctl,
  vhostUrl,
} from '../../test/integration/fixtures/rabbitmq-broker.js'

/**
 * The reliability soak: separate `api` and `worker` processes of the real binary, on RabbitMQ,
 * Redis (cache and rate limits), a SQLite shard and a PostgreSQL shard behind a TCP proxy, under
 * a steady upload load from two owners (one per shard), while a worker is killed with SIGKILL
 * mid-job SOAK_KILLS times, and along the way RabbitMQ is restarted (stop_app/start_app), Redis
 * is killed and restarted, and the PostgreSQL shard is cut off for a while. It ends with the
 * ledger check (every accepted upload settled exactly once) and the API's RSS before and after.
 */
const KILLS = Number(process.env.SOAK_KILLS ?? 50)
/** Pause between one owner's uploads: two owners at 1 s is about what one worker keeps up with. */
const UPLOAD_INTERVAL_MS = Number(process.env.SOAK_UPLOAD_INTERVAL_MS ?? 1000)
const RABBITMQ_URL = process.env.PIXELFLOW_TEST_RABBITMQ_URL
const OWNERS = { sqlite: '500', postgres: '1500' } // PIXELFLOW_SHARD_RANGES=1000: shard 0, shard 1

/**
 * The binary run asynchronously: the PostgreSQL proxy lives in this process, so a synchronous
 * child (the test fixtures' `cli`) would block the very event loop that forwards its queries.
 */
function cliAsync(env: Record<string, string>, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['dist/start/main.js', ...args],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve(stdout.trim()),
    ),
  )
}

function rssMb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then(
    (s) => Number(/VmRSS:\s+(\d+) kB/.exec(s)?.[1] ?? 0) / 1024,
  )
}

describe.skipIf(!RABBITMQ_URL || !PG_URL)('reliability soak', () => {
  const running: ServeProcess[] = []
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGKILL')
      await p.exited
    }
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  })

  it(`${KILLS} worker kills, a broker restart, a Redis restart, a shard outage: 0 lost, 0 twice`, async () => {
    const started = Date.now()
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-soak-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const databases: TestDatabases = await createTestDatabases('pf_soak', 1)
    cleanups.push(() => databases.drop())
    const pgTarget = new URL(databases.urls[0]!)
    const proxy: TcpProxy = await startTcpProxy(pgTarget.hostname, Number(pgTarget.port || 5432))
    cleanups.push(() => proxy.close())
    const redis: OwnRedis = await ownRedis()
    await redis.start()
    cleanups.push(() => redis.kill())
    const vhost = await createVhost()
    cleanups.push(() => deleteVhost(vhost))
    const amqp = new URL(vhostUrl(RABBITMQ_URL!, vhost))
    amqp.searchParams.set('heartbeat', '2')

    const env = {
      PIXELFLOW_DATA_DIR: dir,
      PIXELFLOW_SHARDS: `${join(dir, 'shard-0.db')},${proxy.url(databases.urls[0]!)}`,
      PIXELFLOW_SHARD_STRATEGY: 'range',
      PIXELFLOW_SHARD_RANGES: '1000',
      PIXELFLOW_QUEUE_DRIVER: 'rabbitmq',
      PIXELFLOW_RABBITMQ_URL: amqp.href,
      PIXELFLOW_REDIS_URL: redis.url,
      PIXELFLOW_QUEUE_LEASE_MS: '1500',
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(KILLS * 2 + 10),
      PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '50',
      PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '500',
      PIXELFLOW_WORKER_POLL_MS: '50',
      PIXELFLOW_PRESETS: 'thumb:320,medium:1024',
      PIXELFLOW_RATE_LIMIT_UPLOADS: '0',
      PIXELFLOW_RATE_LIMIT_READS: '0',
      PIXELFLOW_LOG_LEVEL: 'warn',
    }
    const keys = {
      sqlite: await cliAsync(env, 'keys', 'create', '--owner', OWNERS.sqlite),
      postgres: await cliAsync(env, 'keys', 'create', '--owner', OWNERS.postgres),
    }
    const start = async (role: string, extra: Record<string, string> = {}) => {
      const p = await startRole({ ...env, ...extra }, await freePort(), role)
      running.push(p)
      return p
    }
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const apiRssBefore = await rssMb(api.child.pid!)

    // The load: one upload at a time per owner, each a distinct photo-sized JPEG. The summary's
    // restartedMidJob counts the images that a kill interrupted (started twice or more).
    const accepted = { sqlite: [] as string[], postgres: [] as string[] }
    const refused: Record<string, number> = {}
    let loading = true
    const load = (['sqlite', 'postgres'] as const).map(async (shard, n) => {
      for (let i = 0; loading; i++) {
        const body = await makeJpeg(1200 + ((i * 2 + n) % 64), 900)
        try {
          const res = await fetch(`${api.url}/v1/images`, {
            method: 'POST',
            headers: { authorization: `Bearer ${keys[shard]}`, 'content-type': 'image/jpeg' },
            body: new Uint8Array(body),
            signal: AbortSignal.timeout(30_000),
          })
          const answer = (await res.json()) as { id?: string; code?: string }
          if (res.status === 202 && answer.id) accepted[shard].push(answer.id)
          else
            refused[`${shard} ${res.status} ${answer.code}`] =
              (refused[`${shard} ${res.status} ${answer.code}`] ?? 0) + 1
        } catch (error) {
          const name = `${shard} ${(error as Error).name}`
          refused[name] = (refused[name] ?? 0) + 1
        }
        await sleep(UPLOAD_INTERVAL_MS)
      }
    })

    const events: string[] = []
    let workerRss: number[] = []
    for (let kill = 1; kill <= KILLS; kill++) {
      const worker = await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '2' })
      // With a backlog the worker leases at once; each image takes about a second on 2 cores,
      // so 1.5–2.7 s after it is healthy it is in the middle of one (not /metrics: it may live
      // on a separate port or behind a credential, depending on the deployment settings).
      await sleep(1500 + (kill % 5) * 300)
      workerRss.push(await rssMb(worker.child.pid!))
      worker.child.kill('SIGKILL')
      await worker.exited
      running.splice(running.indexOf(worker), 1)

      if (kill === Math.ceil(KILLS / 4)) {
        await rabbitmqctl('stop_app')
        await sleep(2000)
        await rabbitmqctl('start_app')
        events.push(`after kill ${kill}: RabbitMQ stop_app, 2 s, start_app`)
      }
      if (kill === Math.ceil(KILLS / 2)) {
        await redis.kill()
        await sleep(2000)
        await redis.start()
        events.push(`after kill ${kill}: Redis killed, 2 s, restarted`)
      }
      if (kill === Math.ceil((3 * KILLS) / 4)) {
        await proxy.down()
        await sleep(5000)
        await proxy.up()
        events.push(`after kill ${kill}: PostgreSQL shard cut off for 5 s`)
      }
    }
    loading = false
    await Promise.all(load)

    const last = await start('worker', { PIXELFLOW_WORKER_CONCURRENCY: '2' })
    const total = accepted.sqlite.length + accepted.postgres.length
    await eventually(
      async () => {
        for (const shard of ['sqlite', 'postgres'] as const) {
          let cursor: string | null = null
          let settled = 0
          do {
            const page: any = await (
              await fetch(`${api.url}/v1/images?limit=100${cursor ? `&cursor=${cursor}` : ''}`, {
                headers: { authorization: `Bearer ${keys[shard]}` },
              })
            ).json()
            settled += page.items.filter((i: any) => ['ready', 'failed'].includes(i.status)).length
            cursor = page.nextCursor
          } while (cursor)
          expect(settled, `${shard}: settled`).toBe(accepted[shard].length)
        }
      },
      { timeoutMs: 15 * 60_000, intervalMs: 1000, message: `${total} images settled` },
    )
    const images = [
      ...(await checkLedger(api.url, keys.sqlite, accepted.sqlite, 4)),
      ...(await checkLedger(api.url, keys.postgres, accepted.postgres, 4)),
    ]
    const apiRssAfter = await rssMb(api.child.pid!)
    const lastWorkerRss = await rssMb(last.child.pid!)
    const summary = {
      kills: KILLS,
      minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
      accepted: { sqlite: accepted.sqlite.length, postgres: accepted.postgres.length },
      refused,
      ready: images.filter((i) => i.status === 'ready').length,
      failed: images.filter((i) => i.status === 'failed').map((i) => [i.id, i.failure?.code]),
      restartedMidJob: images.filter((i) => i.attempts > 1).length,
      maxAttempts: Math.max(...images.map((i) => i.attempts)),
      lost: 0, // checkLedger: the accepted set equals the listed set
      doneTwice: 0, // checkLedger: every variant's bytes hash to its one recorded ETag
      apiRssMb: { before: Math.round(apiRssBefore), after: Math.round(apiRssAfter) },
      workerRssAtKillMb: {
        first: Math.round(workerRss[0] ?? 0),
        last: Math.round(workerRss.at(-1) ?? 0),
        max: Math.round(Math.max(...workerRss)),
      },
      finalWorkerRssMb: Math.round(lastWorkerRss),
      events,
    }
    console.log(`soak summary ${JSON.stringify(summary, null, 2)}`)
    expect(images).toHaveLength(total)
    expect(total).toBeGreaterThan(0)
    workerRss = []
  })
})
