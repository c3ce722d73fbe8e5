/**
 * One process of the queue-throughput bench (forked by queue-throughput.ts). BENCH_ROLE is
 *   produce  enqueue BENCH_JOBS jobs in batches of BENCH_BATCH from BENCH_LANES concurrent callers,
 *            then answer the parent with the time, the CPU and the per-call latency;
 *   consume  connect, say `ready`, and on `go` run BENCH_LANES callers that each loop
 *            receive(BENCH_BATCH) → ack every job; progress goes to the parent every 10 ms, and on
 *            `stop` the process answers with its acks, the time of its last ack and the duration
 *            of every receive call that returned jobs (the claim latency).
 * BENCH_BACKEND picks what is measured: `sqlite` and `rabbitmq` are our QueueDriver (from src/,
 * unchanged), `bullmq` is BullMQ driven call for call like the port (Queue.add / addBulk,
 * Worker.getNextJob without blocking, Job.moveToCompleted without fetching the next job), and
 * `bullmq-worker` is BullMQ's own Worker loop with a no-op processor (consume only).
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Job, Queue, Worker } from 'bullmq'
import { loadConfig } from '../src/config/load.js'
import { createRabbitQueue } from '../src/queue/drivers/rabbitmq.js'
import { createSqliteQueue } from '../src/queue/drivers/sqlite.js'
import type { JobInput, QueueDriver } from '../src/queue/queue.js'
import { answerParent, peakRssMb, startClock } from './support.js'

export type Backend = 'sqlite' | 'rabbitmq' | 'bullmq' | 'bullmq-worker'

/** Where a side's queue lives: fresh for every run, removed by the parent afterwards. */
export type Target =
  | { backend: 'sqlite'; path: string }
  | { backend: 'rabbitmq'; url: string; queue: string }
  | { backend: 'bullmq' | 'bullmq-worker'; url: string; prefix: string; queue: string }

export interface ProduceResult {
  seconds: number
  cpuSeconds: number
  peakRssMb: number
  /** Duration of each enqueue call (one batch), ms. */
  callMs: number[]
}

export type ConsumerMessage =
  | { type: 'ready' }
  | { type: 'progress'; acked: number }
  | { type: 'result'; result: ConsumeResult }
  | { error: string }

export interface ConsumeResult {
  acked: number
  /** Ack calls answered false (stale lease): must stay 0. */
  refused: number
  /** Receive calls that came back empty (each followed by a 1 ms wait). */
  empty: number
  /** performance.timeOrigin + now() of this process's last ack: comparable across processes. */
  lastAckAt: number
  /** CPU of this process from `go` to its last ack. */
  cpuSeconds: number
  peakRssMb: number
  /** Duration of every receive call that returned at least one job, ms (empty for bullmq-worker). */
  claimMs: number[]
  /** Job ids acked here, so the parent can check every job was acked exactly once. */
  ids: string[]
}

/** What a consumer lane needs; `token` is whatever the backend needs to ack. */
interface Claimed {
  id: string
  ack(): Promise<boolean>
}

interface Port {
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
/** What the outbox relay publishes: `{"imageId": …}` (src/images/model.ts ProcessImageJob). */
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

function openPort(target: Target, consume: boolean, prefetch: number): Port {
  switch (target.backend) {
    case 'sqlite':
      return fromDriver(createSqliteQueue({ path: target.path, ...common }))
    case 'rabbitmq':
      // As createQueue does for a process: a consumer only where jobs are claimed, prefetch = its job slots.
      return fromDriver(
        createRabbitQueue({ url: target.url, queue: target.queue, ...common, consume, prefetch }),
      )
    case 'bullmq':
    case 'bullmq-worker':
      return bullmq(target, consume)
  }
}

const env = process.env
const target = JSON.parse(env.BENCH_TARGET!) as Target
const batch = Number(env.BENCH_BATCH)
const lanes = Number(env.BENCH_LANES)
const total = Number(env.BENCH_JOBS)
const now = () => performance.timeOrigin + performance.now()

async function produce(): Promise<ProduceResult> {
  const port = openPort(target, false, 1)
  try {
    await port.ready()
    const callMs: number[] = []
    let next = 0
    const clock = startClock()
    const lane = async () => {
      while (next < total) {
        const from = next
        next = Math.min(total, next + batch)
        const jobs = Array.from({ length: next - from }, (_, k) => ({
          id: `job-${from + k}`,
          payload: payloadOf(from + k),
        }))
        const started = performance.now()
        await port.enqueue(jobs)
        callMs.push(performance.now() - started)
      }
    }
    await Promise.all(Array.from({ length: lanes }, lane))
    const elapsed = clock.read()
    return { ...elapsed, peakRssMb: peakRssMb(), callMs }
  } finally {
    await port.close()
  }
}

function consume(): void {
  const send = (message: ConsumerMessage) => process.send!(message)
  const result: ConsumeResult = {
    acked: 0,
    refused: 0,
    empty: 0,
    lastAckAt: 0,
    cpuSeconds: 0,
    peakRssMb: 0,
    claimMs: [],
    ids: [],
  }
  let stopped = false
  let clock: ReturnType<typeof startClock> | undefined
  const acked = (id: string, ok: boolean) => {
    if (!ok) return void result.refused++
    result.acked++
    result.ids.push(id)
    result.lastAckAt = now()
    result.cpuSeconds = clock!.read().cpuSeconds
  }

  async function lane(port: Port): Promise<void> {
    while (!stopped) {
      const started = performance.now()
      const jobs = await port.receive(batch)
      const took = performance.now() - started
      if (jobs.length === 0) {
        result.empty++
        await sleep(1)
        continue
      }
      result.claimMs.push(took)
      await Promise.all(jobs.map(async (job) => acked(job.id, await job.ack())))
    }
  }

  /** BullMQ's own loop: fetch, run the no-op processor, complete and fetch the next in one call. */
  function ownLoop(): { ready(): Promise<void>; start(): void; close(): Promise<void> } {
    const t = target as Extract<Target, { prefix: string }>
    const worker = new Worker(t.queue, async () => 'ok', {
      connection: { url: t.url },
      prefix: t.prefix,
      autorun: false,
      concurrency: lanes * batch,
      removeOnComplete: { count: 0 },
    })
    worker.on('completed', (job) => acked(job.id!, true))
    worker.on('failed', (job) => job && acked(job.id!, false))
    let running: Promise<void> = Promise.resolve()
    return {
      ready: () => worker.waitUntilReady().then(() => {}),
      start: () => void (running = worker.run()),
      close: async () => {
        await worker.close()
        await running
      },
    }
  }

  async function main(): Promise<void> {
    const own = target.backend === 'bullmq-worker' ? ownLoop() : null
    // The prefetch of a worker with lanes × batch job slots, as createQueue sets it.
    const port = own ? null : openPort(target, true, lanes * batch)
    await (own ?? port!).ready()
    let lanesDone: Promise<unknown> = Promise.resolve()
    let reported = -1
    const progress = setInterval(() => {
      if (result.acked !== reported) send({ type: 'progress', acked: (reported = result.acked) })
    }, 10)
    process.on('message', async (message: string) => {
      if (message === 'go') {
        clock = startClock()
        if (own) own.start()
        else lanesDone = Promise.all(Array.from({ length: lanes }, () => lane(port!)))
      } else if (message === 'stop') {
        stopped = true
        clearInterval(progress)
        try {
          await lanesDone
          await (own ?? port!).close()
          result.peakRssMb = peakRssMb()
          process.send!({ type: 'result', result } satisfies ConsumerMessage, () => process.exit(0))
        } catch (error) {
          process.send!(
            { error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
            () => process.exit(1),
          )
        }
      }
    })
    send({ type: 'ready' })
  }
  main().catch((error: unknown) => {
    process.send!(
      { error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
      () => process.exit(1),
    )
  })
}

if (env.BENCH_ROLE === 'produce') answerParent(produce)
else consume()
