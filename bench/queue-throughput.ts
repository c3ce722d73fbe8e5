/**
 * Queue throughput. The same N jobs through each queue, in one run: our SQLite and
 * RabbitMQ drivers and BullMQ on Redis, each with batches of 1 and of 10. For every side, one
 * producer process enqueues N jobs (BENCH_QUEUE_LANES concurrent enqueue calls of one batch each),
 * then two consumer processes with BENCH_QUEUE_LANES lanes each loop receive(batch) → ack until
 * all N are acked. Reported: enqueue jobs/s, receive + ack jobs/s, p50 / p99 claim latency (the
 * duration of a receive call that returned a job), CPU per 1000 jobs of our processes and of the
 * broker's process, and peak RSS; ratios against BullMQ at the same batch size. BENCH_QUEUE_ROUNDS
 * (default 1, so the part stays under 3 minutes on a busy 2-core machine) repeats the sides,
 * order reversed every other round, and the median is kept.
 *
 *   npx tsx bench/queue-throughput.ts
 *
 * BENCH_QUEUE_JOBS (default 5000), BENCH_REDIS_URL (default redis://127.0.0.1:6379),
 * BENCH_RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672/). Every queue is new (a unique
 * BullMQ prefix, unique RabbitMQ queue names, a temp SQLite file) and removed afterwards.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../src/config/load.js'
import { topologyFor } from '../src/queue/drivers/rabbitmq-topology.js'
import type {
  Backend,
  ConsumeResult,
  ConsumerMessage,
  ProduceResult,
  Target,
} from './queue-side.js'
import {
  deleteRedisKeys,
  runId as newRunId,
  processCpuSeconds,
  RABBITMQ_URL,
  REDIS_URL,
} from './services.js'
import {
  inRoundOrder,
  isMain,
  markdownTable,
  mb,
  median,
  nextMessage,
  type PartResult,
  startChild,
} from './support.js'

interface Side {
  backend: Backend
  batch: number
}
const SIDES: readonly Side[] = [
  { backend: 'sqlite', batch: 1 },
  { backend: 'sqlite', batch: 10 },
  { backend: 'rabbitmq', batch: 1 },
  { backend: 'rabbitmq', batch: 10 },
  { backend: 'bullmq', batch: 1 },
  { backend: 'bullmq', batch: 10 },
  { backend: 'bullmq-worker', batch: 1 },
]
const LABELS: Record<Backend, string> = {
  sqlite: 'Pixelflow SQLite driver',
  rabbitmq: 'Pixelflow RabbitMQ driver',
  bullmq: 'BullMQ, like the port (getNextJob + moveToCompleted)',
  'bullmq-worker': 'BullMQ Worker loop, no-op processor (reference)',
}
const label = (side: Side) => `${LABELS[side.backend]}, batch ${side.batch}`
const SIDE_FILE = fileURLToPath(new URL('./queue-side.ts', import.meta.url))
const CONSUMER_PROCESSES = 2
/** The process doing a backend's work besides ours, for its CPU time (it may serve others too). */
const BROKER_PROCESS: Record<Backend, string | null> = {
  sqlite: null,
  rabbitmq: 'beam.smp',
  bullmq: 'redis-server',
  'bullmq-worker': 'redis-server',
}

export interface QueueRun {
  backend: Backend
  batch: number
  round: number
  jobs: number
  enqueue: {
    seconds: number
    cpuSeconds: number
    brokerCpuSeconds: number | null
    peakRssMb: number
    callP50Ms: number
    callP99Ms: number
  }
  consume: {
    seconds: number
    cpuSeconds: number
    brokerCpuSeconds: number | null
    peakRssMb: number
    claimP50Ms: number | null
    claimP99Ms: number | null
    claims: number
    emptyReceives: number
  }
  loadAverage: number
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

const cpuSince = (name: string | null, before: number | null) => {
  const after = processCpuSeconds(name)
  return after === null || before === null ? null : after - before
}

/** A new queue for one run, and how to remove everything it left. */
async function prepare(
  side: Side,
  runId: string,
): Promise<{ target: Target; remove(): Promise<void> }> {
  if (side.backend === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-queue-bench-'))
    return {
      target: { backend: 'sqlite', path: join(dir, 'queue.db') },
      remove: () => rm(dir, { recursive: true, force: true }),
    }
  }
  if (side.backend === 'rabbitmq') {
    const queue = `pixelflow-bench-queue.${runId}`
    return {
      target: { backend: 'rabbitmq', url: RABBITMQ_URL, queue },
      remove: () => deleteRabbitQueues(queue),
    }
  }
  const prefix = `pixelflow-bench-queue-${runId}`
  return {
    target: { backend: side.backend, url: REDIS_URL, prefix, queue: 'jobs' },
    remove: async () => void (await deleteRedisKeys(`${prefix}:`)),
  }
}

/** The main, dead and delay queues our driver declares for `queue` (same defaults as queue-side.ts). */
async function deleteRabbitQueues(queue: string): Promise<void> {
  const { leaseMs, ...retry } = loadConfig({}).queue
  void leaseMs
  const topology = topologyFor({ queue, ...retry, deliveryLimit: 20 })
  const amqp = await import('amqplib')
  const connection = await amqp.connect(RABBITMQ_URL)
  try {
    const channel = await connection.createChannel()
    for (const name of [topology.main, topology.dead, ...topology.delays.values()])
      await channel.deleteQueue(name)
    await channel.close()
  } finally {
    await connection.close()
  }
}

function childEnv(
  side: Side,
  target: Target,
  role: 'produce' | 'consume',
  jobs: number,
  lanes: number,
): Record<string, string> {
  return {
    BENCH_ROLE: role,
    BENCH_TARGET: JSON.stringify(target),
    BENCH_BATCH: String(side.batch),
    BENCH_LANES: String(lanes),
    BENCH_JOBS: String(jobs),
  }
}

/** The consumers: all ready, then `go`, then `stop` once their acks add up to `jobs`. */
async function consumeAll(
  children: ChildProcess[],
  jobs: number,
  timeoutMs: number,
): Promise<{ startedAt: number; results: ConsumeResult[] }> {
  const acked = new Map<ChildProcess, number>()
  let allAcked!: () => void
  let failed!: (error: Error) => void
  const done = new Promise<void>((resolve, reject) => ((allAcked = resolve), (failed = reject)))
  const ready: Promise<void>[] = []
  const results: Promise<ConsumeResult>[] = []
  for (const child of children) {
    const r = deferred<void>()
    const result = deferred<ConsumeResult>()
    const fail = (error: Error) => (r.reject(error), result.reject(error), failed(error))
    child.on('message', (message: ConsumerMessage) => {
      if ('error' in message) fail(new Error(message.error))
      else if (message.type === 'ready') r.resolve()
      else if (message.type === 'result') result.resolve(message.result)
      else {
        acked.set(child, message.acked)
        if ([...acked.values()].reduce((a, b) => a + b, 0) >= jobs) allAcked()
      }
    })
    child.once('exit', (code) =>
      fail(new Error(`consumer ${child.pid} exited (${code}) before its result`)),
    )
    ready.push(r.promise)
    results.push(result.promise)
  }
  done.catch(() => {}) // awaited below; a failure before then must not go unhandled
  for (const result of results) result.catch(() => {})
  await withTimeout(Promise.all(ready), 30_000, 'consumers not ready')
  const startedAt = performance.timeOrigin + performance.now()
  for (const child of children) child.send('go')
  await withTimeout(done, timeoutMs, `not all ${jobs} jobs acked`)
  for (const child of children) child.send('stop')
  return {
    startedAt,
    results: await withTimeout(Promise.all(results), 30_000, 'consumers gave no result'),
  }
}

function deferred<T>(): {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: Error): void
} {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)),
  )
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function runSide(side: Side, round: number, jobs: number, lanes: number): Promise<QueueRun> {
  const runId = newRunId()
  const { target, remove } = await prepare(side, runId)
  const children: ChildProcess[] = []
  const loadAverage = loadavg()[0]!
  const broker = BROKER_PROCESS[side.backend]
  try {
    // bullmq-worker only differs in how it consumes: its jobs are enqueued as the bullmq side's.
    const producer = startChild(SIDE_FILE, childEnv(side, target, 'produce', jobs, lanes))
    children.push(producer)
    const brokerBeforeEnqueue = processCpuSeconds(broker)
    const produced = await nextMessage<ProduceResult>(producer, 120_000)
    const brokerEnqueue = cpuSince(broker, brokerBeforeEnqueue)

    const consumers = Array.from({ length: CONSUMER_PROCESSES }, () =>
      startChild(SIDE_FILE, childEnv(side, target, 'consume', jobs, lanes)),
    )
    children.push(...consumers)
    const brokerBeforeConsume = processCpuSeconds(broker)
    const { startedAt, results } = await consumeAll(consumers, jobs, 120_000)
    const brokerConsume = cpuSince(broker, brokerBeforeConsume)

    const ids = new Set(results.flatMap((r) => r.ids))
    const acked = results.reduce((sum, r) => sum + r.acked, 0)
    const refused = results.reduce((sum, r) => sum + r.refused, 0)
    if (ids.size !== jobs || acked !== jobs || refused > 0) {
      throw new Error(
        `${label(side)}: ${acked} acks (${refused} refused) for ${ids.size} distinct jobs, expected ${jobs} of each`,
      )
    }
    const claimMs = results.flatMap((r) => r.claimMs)
    return {
      backend: side.backend,
      batch: side.batch,
      round,
      jobs,
      enqueue: {
        seconds: produced.seconds,
        cpuSeconds: produced.cpuSeconds,
        brokerCpuSeconds: brokerEnqueue,
        peakRssMb: produced.peakRssMb,
        callP50Ms: percentile(produced.callMs, 50),
        callP99Ms: percentile(produced.callMs, 99),
      },
      consume: {
        seconds: (Math.max(...results.map((r) => r.lastAckAt)) - startedAt) / 1000,
        cpuSeconds: results.reduce((sum, r) => sum + r.cpuSeconds, 0),
        brokerCpuSeconds: brokerConsume,
        peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
        claimP50Ms: claimMs.length ? percentile(claimMs, 50) : null,
        claimP99Ms: claimMs.length ? percentile(claimMs, 99) : null,
        claims: claimMs.length,
        emptyReceives: results.reduce((sum, r) => sum + r.empty, 0),
      },
      loadAverage,
    }
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await remove().catch((error: unknown) =>
      console.error(`  cleanup of ${label(side)} failed: ${String(error)}`),
    )
  }
}

const fixed = (value: number | null, digits: number) =>
  value === null ? 'n/a' : value.toFixed(digits)

/** The detailed table, printed by the standalone script and copied into RESULTS.md. */
export function queueTable(runs: QueueRun[]): string {
  const lines = [
    '| Side | Enqueue jobs/s | × BullMQ | Receive + ack jobs/s | × BullMQ | Claim p50 / p99 | Enqueue call p50 / p99 | CPU ms / 1000 jobs, ours + broker (enqueue; consume) | Peak RSS (producer; consumer) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const s of summarise(runs)) {
    lines.push(
      `| ${label(s.side)} | ${s.enqueueRate.toFixed(0)} | ${fixed(s.enqueueRatio, 2)} | ${s.consumeRate.toFixed(0)} | ${fixed(s.consumeRatio, 2)} | ` +
        `${s.claimP50 === null ? 'n/a' : `${s.claimP50.toFixed(2)} / ${s.claimP99!.toFixed(2)} ms`} | ` +
        `${s.side.backend === 'bullmq-worker' ? 'as BullMQ' : `${s.callP50.toFixed(2)} / ${s.callP99.toFixed(2)} ms`} | ` +
        `${s.enqueueCpu.toFixed(0)} + ${fixed(s.enqueueBrokerCpu, 0)}; ${s.consumeCpu.toFixed(0)} + ${fixed(s.consumeBrokerCpu, 0)} | ` +
        `${mb(s.producerRss)}; ${mb(s.consumerRss)} |`,
    )
  }
  return lines.join('\n')
}

function summarise(runs: QueueRun[]) {
  const of = (side: Side) =>
    runs.filter((r) => r.backend === side.backend && r.batch === side.batch)
  const mid = (side: Side, pick: (r: QueueRun) => number | null) => {
    const values = of(side)
      .map(pick)
      .filter((v): v is number => v !== null)
    return values.length ? median(values) : null
  }
  const enqueueRate = (side: Side) => mid(side, (r) => r.jobs / r.enqueue.seconds)!
  const consumeRate = (side: Side) => mid(side, (r) => r.jobs / r.consume.seconds)!
  const sides = SIDES.filter((side) => of(side).length > 0)
  const bull = (batch: number) => sides.find((s) => s.backend === 'bullmq' && s.batch === batch)
  return sides.map((side) => {
    const base = bull(side.batch)
    const perThousand = (pick: (r: QueueRun) => number | null) => {
      const value = mid(side, (r) => {
        const v = pick(r)
        return v === null ? null : (v * 1e6) / r.jobs
      })
      return value
    }
    return {
      side,
      enqueueRate: enqueueRate(side),
      consumeRate: consumeRate(side),
      enqueueRatio:
        base && side.backend !== 'bullmq-worker' ? enqueueRate(side) / enqueueRate(base) : null,
      consumeRatio: base ? consumeRate(side) / consumeRate(base) : null,
      claimP50: mid(side, (r) => r.consume.claimP50Ms),
      claimP99: mid(side, (r) => r.consume.claimP99Ms),
      callP50: mid(side, (r) => r.enqueue.callP50Ms)!,
      callP99: mid(side, (r) => r.enqueue.callP99Ms)!,
      enqueueCpu: perThousand((r) => r.enqueue.cpuSeconds)!,
      enqueueBrokerCpu: perThousand((r) => r.enqueue.brokerCpuSeconds),
      consumeCpu: perThousand((r) => r.consume.cpuSeconds)!,
      consumeBrokerCpu: perThousand((r) => r.consume.brokerCpuSeconds),
      producerRss: Math.max(...of(side).map((r) => r.enqueue.peakRssMb)),
      consumerRss: Math.max(...of(side).map((r) => r.consume.peakRssMb)),
    }
  })
}

export async function benchQueues(
  jobs = Number(process.env.BENCH_QUEUE_JOBS ?? 5000),
  rounds = Number(process.env.BENCH_QUEUE_ROUNDS ?? 1),
  lanes = Number(process.env.BENCH_QUEUE_LANES ?? 4),
): Promise<PartResult & { table: string }> {
  const runs: QueueRun[] = []
  for (let round = 0; round < Math.max(1, rounds); round++) {
    for (const side of inRoundOrder(SIDES, round)) {
      const sideStarted = performance.now()
      const run = await runSide(side, round + 1, jobs, lanes)
      runs.push(run)
      const { enqueue: e, consume: c } = run
      console.error(
        `  round ${round + 1} ${side.backend} ×${side.batch}: enqueue ${(jobs / e.seconds).toFixed(0)} jobs/s (CPU ${e.cpuSeconds.toFixed(2)} s + broker ${fixed(e.brokerCpuSeconds, 2)} s), ` +
          `receive+ack ${(jobs / c.seconds).toFixed(0)} jobs/s (CPU ${c.cpuSeconds.toFixed(2)} s + broker ${fixed(c.brokerCpuSeconds, 2)} s), ` +
          `claim p50 ${fixed(c.claimP50Ms, 2)} ms p99 ${fixed(c.claimP99Ms, 2)} ms, ${c.emptyReceives} empty receives, load ${run.loadAverage.toFixed(1)}, ` +
          `${((performance.now() - sideStarted) / 1000).toFixed(1)} s in all`,
      )
    }
  }
  const summary = summarise(runs)
  const perRound = runs.length / SIDES.length
  return {
    title: `Queue throughput: ${jobs} jobs, 1 producer × ${lanes} callers, ${CONSUMER_PROCESSES} consumers × ${lanes} lanes, ${perRound} run${perRound === 1 ? '' : 's'} per side`,
    rows: summary.map((s) => ({
      side: label(s.side),
      figure:
        `enqueue ${s.enqueueRate.toFixed(0)} jobs/s${s.enqueueRatio === null ? '' : ` (${s.enqueueRatio.toFixed(2)} × BullMQ)`}, ` +
        `receive + ack ${s.consumeRate.toFixed(0)} jobs/s${s.consumeRatio === null ? '' : ` (${s.consumeRatio.toFixed(2)} × BullMQ)`}` +
        (s.claimP50 === null
          ? ''
          : `, claim p50 ${s.claimP50.toFixed(2)} ms, p99 ${s.claimP99!.toFixed(2)} ms`),
      peakRssMb: Math.max(s.producerRss, s.consumerRss),
    })),
    runs,
    table: queueTable(runs),
  }
}

if (isMain(import.meta.url)) {
  const before = loadavg()[0]!
  console.error(`Queue throughput, load average ${before.toFixed(1)}`)
  const part = await benchQueues()
  console.log(markdownTable([part]))
  console.log(
    `\n${part.table}\n\nLoad average (1 min) ${before.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
  )
  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  const file = `${dir}queue-${new Date().toISOString().replace(/[:.]/g, '-')}.json`
  writeFileSync(file, JSON.stringify({ loadAverages: [before, loadavg()[0]], part }, null, 2))
  console.error(`Raw runs written to ${file}`)
}
