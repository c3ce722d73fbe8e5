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
 *   npx tsx bench/queue/run.ts
 *
 * BENCH_QUEUE_JOBS (default 5000), BENCH_REDIS_URL (default redis://127.0.0.1:6379),
 * BENCH_RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672/). Every queue is new (a unique
 * BullMQ prefix, unique RabbitMQ queue names, a temp SQLite file) and removed afterwards.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  HAS_REDIS_SERVER,
  type OwnRedis,
  ownRedis,
} from '../../test/integration/fixtures/own-redis.js'
import { deferred, withTimeout } from '../harness/async.js'
import { isMain, killAll, nextMessage } from '../harness/child.js'
import { loadAverage, processCpuSeconds } from '../harness/measure.js'
import { startPlain } from '../harness/plain.js'
import { fixed, type TablePart } from '../harness/report.js'
import { runId as newRunId } from '../harness/services.js'
import { runAlone } from '../harness/standalone.js'
import { inRoundOrder, percentile } from '../harness/stats.js'
import type { RatioId } from '../harness/targets.js'
import type { Target } from './ports.js'
import { queueTable, summarise } from './report.js'
import type { ConsumeResult, ConsumerMessage, ProduceResult } from './side.js'
import { BROKER_PROCESS, label, type QueueRun, SIDES, type Side } from './sides.js'
import { prepare } from './targets.js'

const SIDE_FILE = fileURLToPath(new URL('./side.ts', import.meta.url))
const CONSUMER_PROCESSES = 2
/** The sides whose receive + ack ratio against BullMQ has a target. */
const RATIO_IDS: Record<string, RatioId> = {
  'sqlite-1': 'queue-sqlite-1',
  'sqlite-10': 'queue-sqlite-10',
  'rabbitmq-1': 'queue-rabbitmq-1',
}

const cpuSince = (name: string | null, before: number | null) => {
  const after = processCpuSeconds(name)
  return after === null || before === null ? null : after - before
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

async function runSide(
  side: Side,
  round: number,
  jobs: number,
  lanes: number,
  aofRedisUrl: string | undefined,
): Promise<QueueRun> {
  const runId = newRunId()
  const { target, remove } = await prepare(side, runId, aofRedisUrl)
  const children: ChildProcess[] = []
  const loadAverageAtStart = loadAverage()
  const broker = BROKER_PROCESS[side.backend]
  try {
    // bullmq-worker only differs in how it consumes: its jobs are enqueued as the bullmq side's.
    const producer = await startPlain(SIDE_FILE, childEnv(side, target, 'produce', jobs, lanes))
    children.push(producer)
    const brokerBeforeEnqueue = processCpuSeconds(broker)
    const produced = await nextMessage<ProduceResult>(producer, 120_000)
    const brokerEnqueue = cpuSince(broker, brokerBeforeEnqueue)

    const consumers = await Promise.all(
      Array.from({ length: CONSUMER_PROCESSES }, () =>
        startPlain(SIDE_FILE, childEnv(side, target, 'consume', jobs, lanes)),
      ),
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
      loadAverage: loadAverageAtStart,
    }
  } finally {
    killAll(children)
    await remove().catch((error: unknown) =>
      console.error(`  cleanup of ${label(side)} failed: ${String(error)}`),
    )
  }
}

export async function benchQueues(
  jobs = Number(process.env.BENCH_QUEUE_JOBS ?? 5000),
  rounds = Number(process.env.BENCH_QUEUE_ROUNDS ?? 1),
  lanes = Number(process.env.BENCH_QUEUE_LANES ?? 4),
  sides: readonly Side[] = SIDES,
): Promise<TablePart> {
  const aof = sides.some((side) => side.backend === 'bullmq-aof') ? await startAofRedis() : null
  const kept = aof ? sides : sides.filter((side) => side.backend !== 'bullmq-aof')
  try {
    return await runSides(kept, jobs, rounds, lanes, aof?.redis.url)
  } finally {
    await aof?.stop()
  }
}

/**
 * The issue's baseline: BullMQ on a Redis that keeps its data (an append-only file fsynced every
 * second), on a redis-server of the bench's own. Without the binary those sides are left out and
 * the ratios fall back to the Redis without persistence.
 */
async function startAofRedis(): Promise<{ redis: OwnRedis; stop(): Promise<void> } | null> {
  if (!HAS_REDIS_SERVER) {
    console.error('  no redis-server binary: the appendfsync everysec sides are left out')
    return null
  }
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-bench-aof-'))
  const redis = await ownRedis({ persistence: 'aof-everysec', dir })
  await redis.start()
  return {
    redis,
    async stop() {
      await redis.kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function runSides(
  sides: readonly Side[],
  jobs: number,
  rounds: number,
  lanes: number,
  aofRedisUrl: string | undefined,
): Promise<TablePart> {
  const runs: QueueRun[] = []
  for (let round = 0; round < Math.max(1, rounds); round++) {
    for (const side of inRoundOrder(sides, round)) {
      const sideStarted = performance.now()
      const run = await runSide(side, round + 1, jobs, lanes, aofRedisUrl)
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
  const perRound = runs.length / sides.length
  return {
    title: `Queue throughput: ${jobs} jobs, 1 producer × ${lanes} callers, ${CONSUMER_PROCESSES} consumers × ${lanes} lanes, ${perRound} run${perRound === 1 ? '' : 's'} per side; × BullMQ is against ${aofRedisUrl ? 'a Redis with appendfsync everysec' : 'a Redis without persistence (no redis-server binary for the AOF baseline)'}`,
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
    ratios: summary.flatMap((s) => {
      const id = RATIO_IDS[`${s.side.backend}-${s.side.batch}`]
      return id && s.consumeRatio !== null ? [{ id, value: s.consumeRatio }] : []
    }),
    table: queueTable(runs),
  }
}

if (isMain(import.meta.url)) await runAlone('queue', 'Queue throughput', () => benchQueues())
