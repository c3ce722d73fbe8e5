import { describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, type ServeProcess } from '../fixtures/serve-process.js'
import { faultQueues, processScene } from './fixtures/scene.js'
import { checkLedger } from './ledger.js'

const MAX_ATTEMPTS = 3

// The broker's backstop (maxReceiveCount) sits above our own limit, so our code sees it first.
const QUEUES = faultQueues('crash loop', { heartbeat: true, sqsMaxReceiveCount: MAX_ATTEMPTS + 3 })

/**
 * A job that kills its worker (SIGKILL, as an out-of-memory kill would) on every delivery. The
 * delivery after the allowed attempts must not run again: the worker that receives it fails the
 * image PROCESSING_CRASHED and dead-letters the job, on every queue driver, and the ledger holds.
 */
describe.each(QUEUES)('a crash loop ($name queue)', (queue) => {
  const scene = processScene(queue, 'crash-loop', {
    NODE_ENV: 'test',
    PIXELFLOW_QUEUE_LEASE_MS: '1500',
    PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '50',
    PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '200',
    PIXELFLOW_WORKER_POLL_MS: '50',
    PIXELFLOW_WORKER_CONCURRENCY: '1',
    PIXELFLOW_LOG_LEVEL: 'info',
  })
  const upload = async (api: ServeProcess, key: string, width: number) =>
    scene.upload(api, key, await makeJpeg(width, 200))
  const image = scene.image

  /** Workers armed with the crash hook, restarted each time one dies, until the crasher settles. */
  async function crashUntilSettled(
    api: ServeProcess,
    crasherKey: string,
    crasher: string,
    extra: Record<string, string> = {},
  ): Promise<{ kills: number; worker: ServeProcess }> {
    const hook = { PIXELFLOW_TEST_CRASH_WORKER_FOR_OWNER: 'crasher', ...extra }
    let kills = 0
    let worker = await scene.start('worker', hook)
    await eventually(
      async () => {
        if (worker.child.signalCode === 'SIGKILL') {
          kills++
          scene.forget(worker)
          worker = await scene.start('worker', hook)
        }
        const status = (await image(api, crasherKey, crasher)).status
        return status === 'failed' || status === 'ready'
      },
      { timeoutMs: 90_000, intervalMs: 100, message: 'the crasher settled' },
    )
    return { kills, worker }
  }

  it('the worker killed on every delivery: the image ends PROCESSING_CRASHED, the job dead', async () => {
    const { env } = scene
    const ledgerKey = cli(env, 'keys', 'create', '--owner', 'ledger')
    const crasherKey = cli(env, 'keys', 'create', '--owner', 'crasher')
    const api = await scene.start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    const fine = [await upload(api, ledgerKey, 300)]
    const crasher = await upload(api, crasherKey, 301)
    fine.push(await upload(api, ledgerKey, 302))

    const { kills, worker } = await crashUntilSettled(api, crasherKey, crasher)
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

  /**
   * A broker that prefetches more than the worker's slots holds a job it has not started yet
   * behind the crasher. Each crash gives that job back too, with a raised delivery count, so by
   * the crasher's last delivery it looks like a crash loop of its own. Only starts count (the
   * image row keeps them): it must run and be ready, never dead-lettered PROCESSING_CRASHED.
   */
  it.runIf(queue.name === 'rabbitmq')(
    'a job held unstarted behind the crasher (prefetch 2, one slot) is not blamed for its crashes',
    async () => {
      const { env } = scene
      const ledgerKey = cli(env, 'keys', 'create', '--owner', 'ledger')
      const crasherKey = cli(env, 'keys', 'create', '--owner', 'crasher')
      const api = await scene.start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
      const crasher = await upload(api, crasherKey, 301)
      const held = await upload(api, ledgerKey, 302)
      // Both in the queue before a worker starts, so its prefetch takes the two together.
      await eventually(async () => (await readyMessages(env)) === 2, {
        timeoutMs: 15_000,
        intervalMs: 50,
        message: 'both jobs published',
      })

      const { kills } = await crashUntilSettled(api, crasherKey, crasher, {
        PIXELFLOW_RABBITMQ_PREFETCH: '2',
      })
      expect(kills).toBe(MAX_ATTEMPTS)
      expect(await image(api, crasherKey, crasher)).toMatchObject({
        status: 'failed',
        failure: { code: 'PROCESSING_CRASHED' },
      })
      const settled = await eventually(
        async () => {
          const now = await image(api, ledgerKey, held)
          return !['queued', 'processing'].includes(now.status) && now
        },
        { timeoutMs: 60_000, intervalMs: 100, message: 'the held image settled' },
      )
      expect(settled).toMatchObject({ status: 'ready', attempts: 1 })
      expect(JSON.parse(cli(env, 'dead', 'list'))).toMatchObject([{ id: crasher }])
      await checkLedger(api.url, ledgerKey, [held], 6)
    },
    180_000,
  )
})

/** Messages ready in the scene's RabbitMQ job queue (not yet delivered to any consumer). */
async function readyMessages(env: Record<string, string>): Promise<number> {
  const amqp = await import('amqplib')
  const connection = await amqp.connect(env.PIXELFLOW_RABBITMQ_URL!)
  try {
    const channel = await connection.createChannel()
    return (await channel.checkQueue('pixelflow.process-image')).messageCount
  } finally {
    await connection.close()
  }
}
