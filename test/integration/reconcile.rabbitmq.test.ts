import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createRabbitQueue } from '../../src/queue/drivers/rabbitmq.js'
import type { QueueDriver } from '../../src/queue/queue.js'
import { reconcileOnce } from '../../src/reconcile/reconciler.js'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { createVhost, deleteVhost, vhostUrl } from './fixtures/rabbitmq-broker.js'

const BASE_URL = process.env.PIXELFLOW_TEST_RABBITMQ_URL
if (!BASE_URL)
  console.info(
    'reconcile.rabbitmq.test.ts skipped: set PIXELFLOW_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 to run it',
  )

const QUEUE = 'pixelflow.process-image'
const DELIVERY_LIMIT = 20 // the driver's default x-delivery-limit

let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const step of cleanup.reverse()) await step()
  cleanup = []
})

/**
 * The broker's backstop moving a job without our code: deliveries that never settle (a consumer
 * that dies, over and over) past `x-delivery-limit` put it in the dead queue, and no worker ever
 * failed its image. The reconciler's dead-queue check finds the image still unfinished and fails
 * it PROCESSING_CRASHED, through the cache like any other failure.
 */
describe.skipIf(!BASE_URL)('reconciler on RabbitMQ', () => {
  it('fails the image of a job the broker dead-lettered by its delivery limit', async () => {
    const vhost = await createVhost()
    cleanup.push(() => deleteVhost(vhost))
    const url = vhostUrl(BASE_URL!, vhost)
    const h: Harness = await startHarness({
      PIXELFLOW_QUEUE_DRIVER: 'rabbitmq',
      PIXELFLOW_RABBITMQ_URL: url,
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_RECONCILE_ENABLED: 'false',
      // Far above the broker's limit: only the broker can be what dead-letters this job.
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: '50',
    })
    cleanup.push(() => h.close())
    const id = (await h.upload(await makeJpeg(64, 48))).json().id
    await eventually(async () => (await h.leftovers()).outbox === 0, { message: 'published' })

    // A consumer that gives every delivery back unsettled, as a worker killed mid-job does.
    const consumer: QueueDriver = createRabbitQueue({
      url,
      queue: QUEUE,
      leaseMs: 60_000,
      maxAttempts: 50,
      backoffBaseMs: 100,
      backoffMaxMs: 100,
      prefetch: 1,
    })
    cleanup.push(() => consumer.close())
    let deliveries = 0
    await eventually(
      async () => {
        const [job] = await consumer.receive(1)
        if (job) {
          deliveries++
          await consumer.release(job.id, job.token)
        }
        return (await h.pf.deps.queue.stats()).dead === 1
      },
      { timeoutMs: 30_000, intervalMs: 10, message: 'the broker dead-lettered the job' },
    )
    expect(deliveries).toBe(DELIVERY_LIMIT + 1)
    expect((await h.getImage(id)).body.status).toBe('queued') // and cached so

    const report = await reconcileOnce({
      metadata: h.pf.deps.metadata,
      queue: h.pf.deps.queue,
      settings: { stuckAfterMs: 3_600_000, maxRequeues: 3, batchSize: 10 },
      logger: pino({ level: 'silent' }),
      onChanged: h.pf.invalidate,
    })
    expect(report.dead).toEqual([
      { jobId: id, imageId: id, status: 'queued', code: 'PROCESSING_CRASHED', action: 'failed' },
    ])
    expect((await h.getImage(id)).body).toMatchObject({
      status: 'failed',
      failure: { code: 'PROCESSING_CRASHED' },
    })
  }, 60_000)
})
