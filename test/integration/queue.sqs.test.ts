import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createSqsQueue, type SqsQueueOptions } from '../../src/queue/drivers/sqs.js'
import type { LeasedJob, QueueDriver } from '../../src/queue/queue.js'
import {
  describeQueueDriver,
  type QueueContractSetup,
  realClock,
} from '../contracts/queue-driver.contract.js'
import { eventually } from '../fixtures/eventually.js'
import { expectPoisonDeadLettered } from './fixtures/poison.js'
import {
  createQueueFactory,
  SQS_CREDENTIALS,
  SQS_ENDPOINT,
  SQS_REGION,
} from './fixtures/sqs-broker.js'

if (!SQS_ENDPOINT) {
  console.info(
    'queue.sqs.test.ts skipped: start `node scripts/sqs-server.mjs &` and set PIXELFLOW_TEST_SQS_ENDPOINT=http://127.0.0.1:4576 to run it',
  )
}

/**
 * Wall-clock timings. SQS visibility timeouts and delays are whole seconds, so the lease is 3 s
 * exactly (a leaseMs of 2.5 s would be a 3 s visibility timeout, the driver's lease staying 2.5 s).
 * Every receive long-polls 1 s, and a "not yet" receive must end before the due time: settling
 * (1.4 s) covers the poll plus request latency. It must also stay under half the lease, for the
 * extend check to land past the first lease. Jitter pinned mid-range: a retry waits 2 s (longer
 * than one long poll, so never "at once") and is due well within backoffMaxMs.
 */
const CONTRACT: QueueContractSetup = {
  clock: realClock(),
  leaseMs: 3_000,
  backoffBaseMs: 4_000,
  backoffMaxMs: 4_000,
  settleMs: 1_400,
  // Standard queues have no deduplication: a repeated enqueue is a second message.
  capabilities: { dedupesById: false, reportsOldestAge: false },
}

const queues = SQS_ENDPOINT ? createQueueFactory() : null
const opened: QueueDriver[] = []

async function open(options: Partial<SqsQueueOptions> = {}, fifo = false): Promise<QueueDriver> {
  const pair = options.queueUrl
    ? { queueUrl: options.queueUrl, deadQueueUrl: options.deadQueueUrl }
    : await queues!.pair({ fifo })
  const queue = await createSqsQueue({
    region: SQS_REGION,
    endpoint: SQS_ENDPOINT,
    ...SQS_CREDENTIALS,
    leaseMs: 10_000,
    maxAttempts: 3,
    backoffBaseMs: 2_000,
    backoffMaxMs: 2_000,
    random: () => 0.5,
    ...pair,
    ...options,
  })
  opened.push(queue)
  return queue
}

function receiveSoon(queue: QueueDriver, timeoutMs = 5_000): Promise<LeasedJob> {
  // No pause between attempts: each receive long-polls for a second already.
  return eventually(async () => (await queue.receive(1))[0] ?? false, {
    timeoutMs,
    intervalMs: 0,
    message: 'a job delivered',
  })
}

describe.skipIf(!SQS_ENDPOINT)('sqs queue', () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((queue) => queue.close()))
  })
  afterAll(async () => {
    await queues?.deleteAll()
    queues?.close()
  })

  describeQueueDriver('sqs standard queue', CONTRACT, (opts) => open(opts))
  // FIFO deduplicates a repeated job id, but only for SQS's 5-minute window: true within a test.
  describeQueueDriver(
    'sqs FIFO queue',
    { ...CONTRACT, capabilities: { dedupesById: true, reportsOldestAge: false } },
    (opts) => open(opts, true),
  )

  it('long polling returns a job enqueued during the wait, and an empty poll waits it out', async () => {
    const pair = await queues!.pair()
    const consumer = await open({ ...pair, waitTimeSeconds: 2, leaseMs: 4_000 })
    const producer = await open(pair) // another process's driver, as the API's outbox relay would be
    const started = Date.now()
    expect(await consumer.receive(5)).toEqual([])
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900) // the broker held the request, no busy loop
    const polling = consumer.receive(5)
    const pollStarted = Date.now()
    await sleep(500)
    await producer.enqueue([{ id: 'late', payload: 'x' }])
    const jobs = await polling
    expect(jobs.map((job) => job.id)).toEqual(['late'])
    expect(Date.now() - pollStarted).toBeLessThan(1_800) // answered on arrival, not at the end of the wait
  })

  it("refuses a stalled holder's late ack once its lease expired and another holder has the job", async () => {
    const pair = await queues!.pair()
    const stalled = await open({ ...pair, leaseMs: 2_000 })
    const other = await open({ ...pair, leaseMs: 2_000 }) // another worker process: leases of its own
    await stalled.enqueue([{ id: 'slow', payload: 'p' }])
    const first = await receiveSoon(stalled)
    await sleep(first.leaseUntil - Date.now()) // the holder stalls past its lease (an event-loop block, a GC pause)
    const second = await receiveSoon(other)
    expect(second).toMatchObject({ id: 'slow', attempts: 2 })
    expect(await stalled.ack('slow', first.token)).toBe(false)
    expect(await stalled.extend('slow', first.token)).toBe(false)
    expect(await stalled.fail('slow', first.token, 'late')).toBe('stale')
    expect(await stalled.release('slow', first.token)).toBe(false)
    // None of it reached the broker: the new holder's lease is intact and its ack is the one that counts.
    expect(await other.stats()).toMatchObject({ visible: 0, inFlight: 1, delayed: 0 })
    expect(await other.ack('slow', second.token)).toBe(true)
    expect(await other.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 })
  })

  it('dead-letters a poison job after maxAttempts with its history while other jobs keep flowing', async () => {
    const queue = await open({ maxAttempts: 3, backoffBaseMs: 2_000, backoffMaxMs: 2_000 })
    await expectPoisonDeadLettered(queue)
    expect(await receiveSoon(queue)).toMatchObject({ id: 'poison', attempts: 1 })
  })

  it('lets the RedrivePolicy move a job that keeps coming back without an outcome (crash-loop backstop)', async () => {
    const pair = await queues!.pair({ maxReceiveCount: 2 })
    // No deadQueueUrl: the driver takes it from the RedrivePolicy.
    const queue = await open({ queueUrl: pair.queueUrl, maxAttempts: 5 })
    await queue.enqueue([{ id: 'loop', payload: '' }])
    for (let delivery = 1; delivery <= 2; delivery++) {
      const job = await receiveSoon(queue)
      expect(job.attempts).toBe(delivery)
      expect(await queue.release(job.id, job.token)).toBe(true) // as a worker killed mid-job would leave it
    }
    expect(await queue.receive(10)).toEqual([]) // the third receive finds it over the limit: SQS moves it
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, dead: 1 })
    const [dead] = await queue.listDead(10)
    expect(dead).toMatchObject({ id: 'loop', payload: '', attempts: 2 })
    expect(dead?.errors.join()).toMatch(/RedrivePolicy/)
    expect(await queue.redrive('loop')).toBe(true)
    expect(await receiveSoon(queue)).toMatchObject({ id: 'loop', payload: '', attempts: 1 })
  })

  it('enqueues in batches of 10 and receives more than 10 at once', async () => {
    const queue = await open()
    const jobs = Array.from({ length: 25 }, (_, i) => ({ id: `j${i}`, payload: `{"n":${i}}` }))
    await queue.enqueue(jobs)
    expect((await queue.stats()).visible).toBe(25)
    const leased = await queue.receive(25)
    expect(new Set(leased.map((job) => job.id))).toEqual(new Set(jobs.map((job) => job.id)))
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 25 })
  })

  it('gives its leases back on close, so they are redelivered at once', async () => {
    const pair = await queues!.pair()
    const closing = await open(pair)
    await closing.enqueue([{ id: 'held', payload: '' }])
    await receiveSoon(closing)
    await closing.close()
    const next = await open(pair)
    const started = Date.now()
    expect(await receiveSoon(next)).toMatchObject({ id: 'held', attempts: 2 })
    expect(Date.now() - started).toBeLessThan(2_000) // not after the 10 s lease
  })
})
