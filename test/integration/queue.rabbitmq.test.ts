import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createQueue, prefetchFor } from '../../src/queue/create-queue.js'
import type { RabbitQueueOptions } from '../../src/queue/drivers/rabbitmq.js'
import type { LeasedJob, QueueDriver } from '../../src/queue/queue.js'
import { describeQueueDriver, realClock } from '../contracts/queue-driver.contract.js'
import { eventually } from '../fixtures/eventually.js'
import { expectPoisonDeadLettered } from './fixtures/poison.js'
import {
  closeConnections,
  createVhost,
  deleteQueue,
  deleteQueues,
  deleteVhost,
  localRabbitmqVersion,
  openRabbitQueue,
  rabbitmqctl,
  uniqueQueue,
  vhostUrl,
} from './fixtures/rabbitmq-broker.js'

const BASE_URL = process.env.PIXELFLOW_TEST_RABBITMQ_URL ?? ''
const LOCAL_VERSION = BASE_URL ? localRabbitmqVersion(BASE_URL) : null
const HAS_RABBITMQCTL = LOCAL_VERSION !== null
if (!BASE_URL)
  console.info(
    'queue.rabbitmq.test.ts skipped: set PIXELFLOW_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 to run it',
  )
else if (!HAS_RABBITMQCTL)
  console.info(
    'queue.rabbitmq.test.ts: rabbitmqctl cannot manage this broker, so the server-side fault tests are skipped',
  )
const PRODUCER = fileURLToPath(new URL('./fixtures/rabbitmq-producer.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// Every queue lives in a vhost of our own when rabbitmqctl is at hand; otherwise under unique names.
let ownVhost: string | null = null
let url = BASE_URL
let brokerStopped = false
const opened: QueueDriver[] = []
const declared: RabbitQueueOptions[] = []
const queueNames = new WeakMap<QueueDriver, string>()

/**
 * Short timings so the suite runs on wall-clock time. Jitter pinned mid-range, as for SQLite:
 * retries wait 600 then 1200 ms, never "at once". Settling: a redelivery after a nack or a
 * delay-queue hop takes milliseconds; 400 ms leaves room for a loaded CI box.
 */
const CONTRACT = {
  clock: realClock(),
  leaseMs: 1_500,
  backoffBaseMs: 1_200,
  backoffMaxMs: 2_400,
  settleMs: 400,
  capabilities: { dedupesById: false, reportsOldestAge: true },
}

async function open(options: Partial<RabbitQueueOptions> = {}): Promise<QueueDriver> {
  const full: RabbitQueueOptions = {
    url,
    queue: uniqueQueue('q'),
    leaseMs: 10_000,
    maxAttempts: 3,
    backoffBaseMs: 200,
    backoffMaxMs: 400,
    random: () => 0.5,
    ...options,
  }
  declared.push(full)
  const queue = await openRabbitQueue(full)
  opened.push(queue)
  queueNames.set(queue, full.queue)
  return queue
}

describe.skipIf(!BASE_URL)(`rabbitmq queue (server ${LOCAL_VERSION ?? 'version unknown'})`, () => {
  beforeAll(async () => {
    if (!HAS_RABBITMQCTL) return
    ownVhost = await createVhost()
    url = vhostUrl(BASE_URL, ownVhost)
  })
  afterAll(async () => {
    if (brokerStopped) await rabbitmqctl('start_app') // never leave this machine's broker stopped
    if (ownVhost) await deleteVhost(ownVhost)
    else await deleteQueues(BASE_URL, declared)
  })
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((queue) => queue.close()))
  })

  describeQueueDriver('rabbitmq', CONTRACT, (opts) => open({ ...opts }))

  it('keeps every confirmed enqueue although the producer is killed right after', async () => {
    const queue = uniqueQueue('confirms')
    const child = spawn(process.execPath, ['--import', 'tsx', PRODUCER, url, queue, '300'], {
      cwd: ROOT,
    })
    let out = ''
    let err = ''
    child.stderr.on('data', (chunk) => (err += chunk))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        out += chunk
        if (out.includes('confirmed')) resolve()
      })
      child.on('exit', () => reject(new Error(`producer exited early: ${err}`)))
    })
    child.kill('SIGKILL') // no close(), no flush: the socket is simply gone
    // The producer's backoff, so both declare the same delay queues (and cleanup finds them all).
    const consumer = await open({ queue, prefetch: 300, backoffBaseMs: 1_000, backoffMaxMs: 2_000 })
    const ids = new Set<string>()
    await eventually(
      async () => {
        for (const job of await consumer.receive(300)) ids.add(job.id)
        if (ids.size < 300) throw new Error(`${ids.size} of 300 delivered`)
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'every confirmed job delivered' },
    )
    expect(ids.size).toBe(300)
  })

  it('gives a worker two deliveries per job slot (prefetchFor, as openDeps asks), or the prefetch the config sets', async () => {
    const producer = await open({ consume: false })
    // The producer's own queue and settings, so both sides declare the same queues.
    const { queue, leaseMs, maxAttempts, backoffBaseMs, backoffMaxMs } = declared.at(-1)!
    const common = { url, queue, leaseMs, maxAttempts, backoffBaseMs, backoffMaxMs }
    await producer.enqueue(Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, payload: '{}' })))
    const held = async (queue: QueueDriver, expected: number) => {
      const jobs: LeasedJob[] = []
      // Deliveries arrive one by one: claim until the prefetch is reached, then check no more come.
      await eventually(
        async () => {
          jobs.push(...(await queue.receive(20)))
          if (jobs.length < expected) throw new Error(`${jobs.length} of ${expected} held`)
        },
        { timeoutMs: 5_000, intervalMs: 20, message: `${expected} deliveries held` },
      )
      await sleep(200)
      jobs.push(...(await queue.receive(20)))
      return jobs.length
    }
    const worker = await createQueue(
      { driver: 'rabbitmq', ...common },
      { consume: true, prefetch: prefetchFor(3) },
    )
    opened.push(worker)
    expect(await held(worker, 6)).toBe(6)
    const configured = await createQueue(
      { driver: 'rabbitmq', ...common, prefetch: 5 },
      { consume: true, prefetch: 3 },
    )
    opened.push(configured)
    expect(await held(configured, 5)).toBe(5)
  })

  it('dead-letters a poison job after maxAttempts with its history while other jobs keep flowing', async () => {
    const queue = await open({ maxAttempts: 3, backoffBaseMs: 500, backoffMaxMs: 1_000 })
    await expectPoisonDeadLettered(queue)
    expect(await receiveSoon(queue)).toMatchObject({ id: 'poison', attempts: 1 })
  })

  it('dead-letters through x-delivery-limit a job that keeps coming back unsettled (crash-loop backstop)', async () => {
    const queue = await open({ maxAttempts: 5, deliveryLimit: 2 })
    await queue.enqueue([{ id: 'loop', payload: '' }])
    for (let delivery = 1; delivery <= 3; delivery++) {
      const job = await receiveSoon(queue)
      expect(job.attempts).toBe(delivery)
      expect(await queue.release(job.id, job.token)).toBe(true)
    }
    await eventually(async () => expect((await queue.stats()).dead).toBe(1), {
      timeoutMs: 5_000,
      intervalMs: 50,
      message: 'the job dead-lettered by the broker',
    })
    const [dead] = await queue.listDead(10)
    expect(dead).toMatchObject({ id: 'loop', attempts: 3 })
    expect(dead?.errors.join()).toMatch(/delivery_limit/)
  })

  it('declares its queues again and resumes when the job queue is deleted under it', async () => {
    const queue = await open()
    await queue.enqueue([{ id: 'lost-with-the-queue', payload: '' }])
    await deleteQueue(url, queueNameOf(queue)) // the broker cancels our consumer
    // Publishes to the missing queue come back unroutable and fail; the retry lands once it is back.
    await eventually(() => queue.enqueue([{ id: 'after', payload: '' }]), {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: 'an enqueue accepted once the queue is declared again',
    })
    expect(await receiveSoon(queue, 10_000)).toMatchObject({ id: 'after', attempts: 1 })
    await eventually(() => queue.check(), {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: 'the driver healthy again',
    })
  })

  describe.skipIf(!HAS_RABBITMQCTL)('server-side faults', () => {
    it('resumes consuming by itself after the server closes its connection, refusing stale tokens', async () => {
      const queue = await open({ leaseMs: 30_000 })
      await queue.enqueue([{ id: 'held', payload: '' }])
      const held = await receiveSoon(queue)
      await closeConnections(ownVhost!)
      const droppedAt = Date.now()
      expect(await queue.ack('held', held.token)).toBe(false)
      expect(await queue.extend('held', held.token)).toBe(false)
      expect(await queue.fail('held', held.token, 'x')).toBe('stale')
      const again = await receiveSoon(queue, 10_000) // redelivered by the broker, to the new consumer
      expect(Date.now() - droppedAt).toBeLessThan(10_000)
      expect(again).toMatchObject({ id: 'held', attempts: 2 })
      expect(await queue.ack('held', again.token)).toBe(true)
      await queue.enqueue([{ id: 'after', payload: '' }])
      expect(await receiveSoon(queue)).toMatchObject({ id: 'after', attempts: 1 })
    })

    it('delivers every confirmed job at least once across a broker restart under load', async () => {
      const producer = await open({ consume: false })
      const consumer = await open({ queue: queueNameOf(producer), prefetch: 20 })
      const confirmed = new Set<string>()
      const received = new Set<string>()
      let running = true
      const produce = (async () => {
        for (let n = 0; running; ) {
          // An enqueue that failed may still have landed: the same id is retried, a duplicate is fine.
          const ok = await producer.enqueue([{ id: `m-${n}`, payload: '' }]).then(
            () => true,
            () => false,
          )
          if (ok) confirmed.add(`m-${n++}`)
          else await sleep(100)
        }
      })()
      let produced = false
      let drainUntil = Number.POSITIVE_INFINITY
      const consume = (async () => {
        while ((!produced || !isSubset(confirmed, received)) && Date.now() < drainUntil) {
          const jobs = await consumer.receive(10)
          for (const job of jobs) {
            received.add(job.id)
            await consumer.ack(job.id, job.token) // false after the restart: the job comes back
          }
          if (jobs.length === 0) await sleep(20)
        }
      })()
      await sleep(1_000)
      let restartedAt = 0
      try {
        brokerStopped = true
        await rabbitmqctl('stop_app')
        await expect(consumer.check()).rejects.toThrow(/not connected/)
        await sleep(1_000)
      } finally {
        await rabbitmqctl('start_app')
        brokerStopped = false
        restartedAt = Date.now()
      }
      await eventually(() => Promise.all([producer.check(), consumer.check()]), {
        timeoutMs: 10_000,
        intervalMs: 50,
        message: 'both drivers reconnected after start_app',
      })
      const reconnectMs = Date.now() - restartedAt
      expect(reconnectMs).toBeLessThan(10_000)
      const beforeMore = confirmed.size
      await eventually(() => expect(confirmed.size).toBeGreaterThan(beforeMore + 50), {
        timeoutMs: 10_000,
        intervalMs: 50,
        message: 'the producer confirming again after the restart',
      })
      running = false
      await produce
      produced = true
      drainUntil = Date.now() + 20_000
      await consume
      expect([...confirmed].filter((id) => !received.has(id))).toEqual([])
      expect(confirmed.size).toBeGreaterThan(100)
      console.info(
        `broker restart: ${confirmed.size} confirmed, all delivered; both drivers back ${reconnectMs} ms after start_app`,
      )
    })
  })
})

function queueNameOf(queue: QueueDriver): string {
  const name = queueNames.get(queue)
  if (!name) throw new Error('unknown queue')
  return name
}

function receiveSoon(queue: QueueDriver, timeoutMs = 5_000): Promise<LeasedJob> {
  return eventually(async () => (await queue.receive(1))[0] ?? false, {
    timeoutMs,
    intervalMs: 50,
    message: 'a job delivered',
  })
}

function isSubset(small: Set<string>, big: Set<string>): boolean {
  for (const id of small) if (!big.has(id)) return false
  return true
}
