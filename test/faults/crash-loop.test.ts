import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'
import { createVhost, deleteVhost, vhostUrl } from '../integration/fixtures/rabbitmq-broker.js'
import { createQueueFactory, SQS_ENDPOINT, SQS_REGION } from '../integration/fixtures/sqs-broker.js'
import { checkLedger } from './ledger.js'

const RABBITMQ_URL = process.env.PIXELFLOW_TEST_RABBITMQ_URL
if (!RABBITMQ_URL)
  console.info(
    'crash loop: the RabbitMQ run is skipped; set PIXELFLOW_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 to run it',
  )
if (!SQS_ENDPOINT)
  console.info(
    'crash loop: the SQS run is skipped; start `node scripts/sqs-server.mjs <port> &` and set PIXELFLOW_TEST_SQS_ENDPOINT=http://127.0.0.1:<port> to run it',
  )

const MAX_ATTEMPTS = 3

const QUEUES = [
  { name: 'sqlite', run: true, setup: async () => ({ env: {}, teardown: async () => {} }) },
  {
    name: 'rabbitmq',
    run: Boolean(RABBITMQ_URL),
    setup: async () => {
      const vhost = await createVhost()
      const url = new URL(vhostUrl(RABBITMQ_URL!, vhost))
      url.searchParams.set('heartbeat', '2')
      return {
        env: { PIXELFLOW_QUEUE_DRIVER: 'rabbitmq', PIXELFLOW_RABBITMQ_URL: url.href },
        teardown: () => deleteVhost(vhost),
      }
    },
  },
  {
    name: 'sqs',
    run: Boolean(SQS_ENDPOINT),
    setup: async () => {
      const queues = createQueueFactory()
      // The broker's backstop (maxReceiveCount) sits above our own limit, so our code sees it first.
      const pair = await queues.pair({ maxReceiveCount: MAX_ATTEMPTS + 3 })
      return {
        env: {
          PIXELFLOW_QUEUE_DRIVER: 'sqs',
          PIXELFLOW_SQS_QUEUE_URL: pair.queueUrl,
          PIXELFLOW_SQS_DEAD_QUEUE_URL: pair.deadQueueUrl,
          PIXELFLOW_SQS_REGION: SQS_REGION,
          PIXELFLOW_SQS_ENDPOINT: SQS_ENDPOINT,
          // Whole seconds, and at least twice the 1 s long poll.
          PIXELFLOW_QUEUE_LEASE_MS: '3000',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
        },
        teardown: async () => {
          await queues.deleteAll()
          queues.close()
        },
      }
    },
  },
]

/**
 * A job that kills its worker (SIGKILL, as an out-of-memory kill would) on every delivery. The
 * delivery after the allowed attempts must not run again: the worker that receives it fails the
 * image PROCESSING_CRASHED and dead-letters the job, on every queue driver, and the ledger holds.
 */
describe.each(QUEUES.filter((q) => q.run))('a crash loop ($name queue)', (queue) => {
  let dir: string
  let env: Record<string, string>
  let teardown: () => Promise<void>
  const running: ServeProcess[] = []

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-crash-loop-'))
    const driver = await queue.setup()
    teardown = driver.teardown
    env = {
      NODE_ENV: 'test',
      PIXELFLOW_DATA_DIR: dir,
      PIXELFLOW_QUEUE_LEASE_MS: '1500',
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '50',
      PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '200',
      PIXELFLOW_WORKER_POLL_MS: '50',
      PIXELFLOW_WORKER_CONCURRENCY: '1',
      PIXELFLOW_LOG_LEVEL: 'info',
      ...driver.env,
    }
  })
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGKILL')
      await p.exited
    }
    await rm(dir, { recursive: true, force: true })
    await teardown()
  })

  async function start(role: string, extra: Record<string, string> = {}) {
    const p = await startRole({ ...env, ...extra }, await freePort(), role)
    running.push(p)
    return p
  }

  async function upload(api: ServeProcess, key: string, width: number): Promise<string> {
    const res = await fetch(`${api.url}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await makeJpeg(width, 200)),
    })
    expect(res.status).toBe(202)
    return ((await res.json()) as { id: string }).id
  }

  async function image(api: ServeProcess, key: string, id: string): Promise<any> {
    const res = await fetch(`${api.url}/v1/images/${id}`, {
      headers: { authorization: `Bearer ${key}` },
    })
    return res.json()
  }

  it('the worker killed on every delivery: the image ends PROCESSING_CRASHED, the job dead', async () => {
    const ledgerKey = cli(env, 'keys', 'create', '--owner', 'ledger')
    const crasherKey = cli(env, 'keys', 'create', '--owner', 'crasher')
    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const fine = [await upload(api, ledgerKey, 300)]
    const crasher = await upload(api, crasherKey, 301)
    fine.push(await upload(api, ledgerKey, 302))

    // Workers armed with the hook, restarted each time one dies, until the crasher settles.
    const hook = { PIXELFLOW_TEST_CRASH_WORKER_FOR_OWNER: 'crasher' }
    let kills = 0
    let worker = await start('worker', hook)
    await eventually(
      async () => {
        if (worker.child.signalCode === 'SIGKILL') {
          kills++
          running.splice(running.indexOf(worker), 1)
          worker = await start('worker', hook)
        }
        const status = (await image(api, crasherKey, crasher)).status
        return status === 'failed' || status === 'ready'
      },
      { timeoutMs: 90_000, intervalMs: 100, message: 'the crasher settled' },
    )
    expect(await image(api, crasherKey, crasher)).toMatchObject({
      status: 'failed',
      failure: { code: 'PROCESSING_CRASHED' },
      // Started by the three deliveries that crashed; the fourth never started it.
      attempts: MAX_ATTEMPTS,
    })
    expect(kills).toBe(MAX_ATTEMPTS)
    expect(worker.output()).toContain(
      'job crashed its worker on every delivery: dead-lettered without running it',
    )
    const dead = JSON.parse(cli(env, 'dead', 'list'))
    expect(dead).toMatchObject([{ id: crasher, attempts: MAX_ATTEMPTS + 1 }])

    // The other owner's images went through the same workers untouched.
    await eventually(
      async () => {
        for (const id of fine) expect((await image(api, ledgerKey, id)).status).toBe('ready')
      },
      { timeoutMs: 60_000, intervalMs: 100, message: 'the other images ready' },
    )
    await checkLedger(api.url, ledgerKey, fine, 6)
    await checkLedger(api.url, crasherKey, [crasher], 6)
  }, 180_000)
})
