/**
 * The queue part's backends behind one small port: our QueueDriver (SQLite, RabbitMQ; from src/,
 * unchanged) and BullMQ driven call for call like it. Loaded by the side processes only (the
 * parent imports types), so the drivers' modules count in the sides' RSS, as before.
 */
import { randomUUID } from 'node:crypto'
import { type Job, Queue, Worker } from 'bullmq'
import { loadConfig } from '../../src/config/load.js'
import { createRabbitQueue } from '../../src/queue/drivers/rabbitmq.js'
import { createSqliteQueue } from '../../src/queue/drivers/sqlite.js'
import type { JobInput, QueueDriver } from '../../src/queue/queue.js'
import { sleep } from '../harness/async.js'

/** 'bullmq-aof' is BullMQ on a Redis of the bench's own with `appendfsync everysec` (its target is 'bullmq'). */
export type Backend = 'sqlite' | 'rabbitmq' | 'bullmq' | 'bullmq-aof' | 'bullmq-worker'

/** Where a side's queue lives: fresh for every run, removed by the parent afterwards. */
export type Target =
  | { backend: 'sqlite'; path: string }
  | { backend: 'rabbitmq'; url: string; queue: string }
  | { backend: 'bullmq' | 'bullmq-worker'; url: string; prefix: string; queue: string }

/** What a consumer lane needs; `token` is whatever the backend needs to ack. */
export interface Claimed {
  id: string
  ack(): Promise<boolean>
}

export interface Port {
  /** Resolves once connected, so connecting stays out of every timed window. */
  ready(): Promise<void>
  enqueue(jobs: JobInput[]): Promise<void>
  receive(max: number): Promise<Claimed[]>
  close(): Promise<void>
}

const queueDefaults = loadConfig({}).queue
const common = {
  leaseMs: queueDefaults.leaseMs,
  maxAttempts: queueDefaults.maxAttempts,
  backoffBaseMs: queueDefaults.backoffBaseMs,
  backoffMaxMs: queueDefaults.backoffMaxMs,
}
/** What the outbox relay publishes: a `process-image` payload (src/domain/jobs.ts). */
export const payloadOf = (i: number) =>
  JSON.stringify({ imageId: `01JBENCH${String(i).padStart(18, '0')}` })

function fromDriver(driver: QueueDriver): Port {
  return {
    async ready() {
      const deadline = Date.now() + 15_000
      for (;;) {
        try {
          return await driver.check()
        } catch (error) {
          if (Date.now() > deadline) throw error
          await sleep(20)
        }
      }
    },
    enqueue: (jobs) => driver.enqueue(jobs),
    async receive(max) {
      const jobs = await driver.receive(max)
      return jobs.map((job) => ({ id: job.id, ack: () => driver.ack(job.id, job.token) }))
    },
    close: () => driver.close(),
  }
}

/**
 * BullMQ call for call like our port: enqueue = add (one job) or addBulk (a batch), with the job
 * id given so a repeated publish is dropped as ours is; receive(n) = n non-blocking getNextJob
 * calls at once (BullMQ has no batch claim); ack = moveToCompleted without fetching the next job.
 * Completed jobs are removed, as our drivers delete or ack them.
 */
function bullmq(target: Extract<Target, { prefix: string }>, consume: boolean): Port {
  const connection = { url: target.url }
  const options = { connection, prefix: target.prefix }
  const queue = consume
    ? null
    : new Queue(target.queue, {
        ...options,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
      })
  const worker = consume ? new Worker(target.queue, null, { ...options, autorun: false }) : null
  const claimOne = async (): Promise<Claimed | null> => {
    const token = randomUUID()
    const job: Job | undefined = await worker!.getNextJob(token, { block: false })
    if (!job) return null
    return { id: job.id!, ack: async () => (await job.moveToCompleted('ok', token, false), true) }
  }
  return {
    async ready() {
      await (queue ?? worker)!.waitUntilReady()
    },
    async enqueue(jobs) {
      if (jobs.length === 1)
        await queue!.add('process-image', { payload: jobs[0]!.payload }, { jobId: jobs[0]!.id })
      else
        await queue!.addBulk(
          jobs.map((job) => ({
            name: 'process-image',
            data: { payload: job.payload },
            opts: { jobId: job.id },
          })),
        )
    },
    async receive(max) {
      const jobs = await Promise.all(Array.from({ length: max }, claimOne))
      return jobs.filter((job): job is Claimed => job !== null)
    },
    async close() {
      await Promise.all([queue?.close(), worker?.close()])
    },
  }
}

export function openPort(target: Target, consume: boolean, prefetch: number): Port {
  switch (target.backend) {
    case 'sqlite':
      return fromDriver(createSqliteQueue({ path: target.path, ...common }))
    case 'rabbitmq':
      // As createQueue does for a process: a consumer only where jobs are claimed.
      return fromDriver(
        createRabbitQueue({ url: target.url, queue: target.queue, ...common, consume, prefetch }),
      )
    case 'bullmq':
    case 'bullmq-worker':
      return bullmq(target, consume)
  }
}
