/**
 * One process of the queue-throughput bench (forked by queue/run.ts). BENCH_ROLE is
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
import { Worker } from 'bullmq'
// Loaded as it was before the harness split (the old shared support.ts imported sharp): the
// producers' and consumers' peak RSS then stay comparable with earlier runs in RESULTS.md.
import 'sharp'
import { prefetchFor } from '../../src/queue/create-queue.js'
import { sleep } from '../harness/async.js'
import { answerParent, failToParent } from '../harness/child.js'
import { peakRssMb, startClock, wallNow } from '../harness/measure.js'
import { openPort, type Port, payloadOf, type Target } from './ports.js'

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

const env = process.env
const target = JSON.parse(env.BENCH_TARGET!) as Target
const batch = Number(env.BENCH_BATCH)
const lanes = Number(env.BENCH_LANES)
const total = Number(env.BENCH_JOBS)

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
    result.lastAckAt = wallNow()
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
    // The prefetch of a worker with lanes × batch job slots, as openDeps sets it.
    const port = own ? null : openPort(target, true, prefetchFor(lanes * batch))
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
          failToParent(error)
        }
      }
    })
    send({ type: 'ready' })
  }
  main().catch(failToParent)
}

if (env.BENCH_ROLE === 'produce') answerParent(produce)
else consume()
