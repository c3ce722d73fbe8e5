import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import { createMetrics, type Metrics } from '../observability/metrics.js'
import { createSqliteQueue } from '../queue/drivers/sqlite.js'
import type { LeasedJob, QueueDriver } from '../queue/queue.js'
import type { JobHandler, JobOutcome } from './process-image.js'
import { startWorker, type Worker } from './run-worker.js'

/**
 * The job runner over the real SQLite queue (in memory). Leases, backoff and visibility run on a
 * fake clock the test moves; only the worker's own poll and heartbeat timers are real, and short.
 */
const BACKOFF_MS = 1_000

interface Scene {
  queue: QueueDriver
  worker: Worker
  metrics: Metrics
  clock: { now: () => number; advance: (ms: number) => void }
  /** When (performance.now) the worker called `extend`, its heartbeat. */
  extendedAt: number[]
  /** Every log line the worker wrote, parsed (level debug and up). */
  logs: Record<string, any>[]
}

const opened: { queue: QueueDriver; worker: Worker }[] = []
afterEach(async () => {
  for (const { queue, worker } of opened.splice(0)) {
    await worker.stop(0)
    await queue.close()
  }
})

function scene(
  handler: JobHandler,
  {
    concurrency = 2,
    pollMs = 5,
    leaseMs = 30_000,
    maxAttempts = 3,
    wrap = (q: QueueDriver) => q,
  }: {
    concurrency?: number
    pollMs?: number
    leaseMs?: number
    maxAttempts?: number
    /** Replaces queue methods, to play a broker fault. */
    wrap?: (queue: QueueDriver) => QueueDriver
  } = {},
): Scene {
  let at = 1_700_000_000_000
  const clock = { now: () => at, advance: (ms: number) => void (at += ms) }
  const sqlite = createSqliteQueue({
    path: ':memory:',
    leaseMs,
    maxAttempts,
    backoffBaseMs: BACKOFF_MS,
    backoffMaxMs: BACKOFF_MS,
    random: () => 1, // jitter pinned: a retry is due exactly BACKOFF_MS after its failure
    now: clock.now,
  })
  const extendedAt: number[] = []
  // The driver's methods are closures, so a spread copy with one method wrapped is the same queue.
  const queue: QueueDriver = {
    ...sqlite,
    extend: (id, token) => {
      extendedAt.push(performance.now())
      return sqlite.extend(id, token)
    },
  }
  const metrics = createMetrics()
  const logs: Record<string, any>[] = []
  const stream = { write: (line: string) => void logs.push(JSON.parse(line)) }
  const worker = startWorker({
    queue: wrap(queue),
    handler,
    concurrency,
    pollMs,
    leaseMs,
    maxAttempts,
    logger: pino({ level: 'debug' }, stream),
    metrics,
  })
  opened.push({ queue, worker })
  return { queue, worker, metrics, clock, extendedAt, logs }
}

/** A handler whose jobs finish when the test says so. */
function gatedHandler(outcome: JobOutcome = 'ready') {
  const started: LeasedJob[] = []
  const signals: AbortSignal[] = []
  const gates = new Map<string, () => void>()
  let now = 0
  let most = 0
  const handler: JobHandler = {
    async handle(job, signal) {
      started.push(job)
      signals.push(signal)
      most = Math.max(most, ++now)
      try {
        await new Promise<void>((resolve) => gates.set(`${job.id}#${job.attempts}`, resolve))
        return outcome
      } finally {
        now--
      }
    },
    onDead: async () => {},
  }
  return {
    handler,
    started,
    signals,
    finish: (id: string, attempts = 1) => gates.get(`${id}#${attempts}`)?.(),
    running: () => now,
    most: () => most,
  }
}

async function counted(metrics: Metrics): Promise<Record<string, number>> {
  const { values } = await metrics.jobs.get()
  return Object.fromEntries(values.map((v) => [String(v.labels.outcome), v.value]))
}

const jobs = (...ids: string[]) => ids.map((id) => ({ id, payload: `{"imageId":"${id}"}` }))
const settle = { timeoutMs: 2_000, intervalMs: 2 }

describe('startWorker', () => {
  it('never runs more jobs at once than its concurrency, and acks each one', async () => {
    const h = gatedHandler()
    const { queue, metrics } = scene(h.handler, { concurrency: 2 })
    await queue.enqueue(jobs('a', 'b', 'c', 'd', 'e'))
    await eventually(() => h.running() === 2, { ...settle, message: 'two jobs running' })
    // Many polls later, still two: the free slots, not the visible jobs, decide what is claimed.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(h.started.map((j) => j.id)).toEqual(['a', 'b'])
    expect(await queue.stats()).toMatchObject({ visible: 3, inFlight: 2 })

    h.finish('a')
    await eventually(() => h.started.length === 3, { ...settle, message: 'a third job claimed' })
    expect(h.running()).toBe(2)
    for (const id of ['b', 'c', 'd', 'e']) {
      await eventually(() => h.started.some((j) => j.id === id), settle)
      h.finish(id)
    }
    await eventually(async () => expect(await queue.stats()).toMatchObject({ inFlight: 0 }), settle)
    expect(h.most()).toBe(2)
    expect(await queue.stats()).toMatchObject({ visible: 0, delayed: 0, dead: 0 })
    expect(await counted(metrics)).toEqual({ ready: 5 })
  })

  it('acks a job its handler reports as failed for good: no retry, no dead letter', async () => {
    const h = gatedHandler('failed')
    const { queue, metrics, clock } = scene(h.handler)
    await queue.enqueue(jobs('bad-input'))
    await eventually(() => h.started.length === 1, settle)
    h.finish('bad-input')
    await eventually(async () => (await counted(metrics)).failed === 1, settle)
    clock.advance(10 * BACKOFF_MS)
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(h.started).toHaveLength(1)
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 })
  })

  it('hands a thrown error to the queue: retried after the backoff, then dead with onDead', async () => {
    const attempts: number[] = []
    const dead: { job: LeasedJob; error: unknown }[] = []
    const { queue, metrics, clock } = scene(
      {
        async handle(job) {
          attempts.push(job.attempts)
          throw new Error(`database unreachable (attempt ${job.attempts})`)
        },
        onDead: async (job, error) => void dead.push({ job, error }),
      },
      { maxAttempts: 2 },
    )
    await queue.enqueue(jobs('flaky'))
    await eventually(async () => (await queue.stats()).delayed === 1, settle)
    // Not again before its backoff has passed on the queue's clock.
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(attempts).toEqual([1])
    clock.advance(BACKOFF_MS)
    await eventually(() => dead.length === 1, { ...settle, message: 'the job dead-lettered' })
    expect(attempts).toEqual([1, 2])
    expect(dead[0]!.job).toMatchObject({ id: 'flaky', attempts: 2 })
    expect((dead[0]!.error as Error).message).toBe('database unreachable (attempt 2)')
    expect(await queue.listDead(10)).toMatchObject([
      {
        id: 'flaky',
        errors: ['database unreachable (attempt 1)', 'database unreachable (attempt 2)'],
      },
    ])
    expect(await counted(metrics)).toEqual({ retry: 1, dead: 1 })
  })

  it('counts a job whose lease was taken over meanwhile as stale, and leaves the new lease be', async () => {
    const h = gatedHandler()
    const { queue, metrics, clock } = scene(h.handler, { leaseMs: 60_000 })
    await queue.enqueue(jobs('slow'))
    await eventually(() => h.started.length === 1, settle)
    // The lease lapses (a stall longer than the lease, before any heartbeat): another holder takes it.
    clock.advance(60_001)
    const [taken] = await queue.receive(1)
    expect(taken).toMatchObject({ id: 'slow', attempts: 2 })
    h.finish('slow')
    await eventually(async () => (await counted(metrics)).stale === 1, settle)
    expect(await queue.stats()).toMatchObject({ inFlight: 1 })
    expect(await queue.ack('slow', taken!.token)).toBe(true)
  })

  it('extends the lease while a job runs, well within each lease (every third of it)', async () => {
    const h = gatedHandler()
    // The heartbeat timer is real (every 200 ms); whether the lease holds is judged on the fake clock.
    const leaseMs = 600
    const { queue, clock, extendedAt } = scene(h.handler, { leaseMs })
    await queue.enqueue(jobs('long'))
    await eventually(() => h.started.length === 1, settle)
    const startedAt = performance.now()
    const firstLeaseUntil = h.started[0]!.leaseUntil
    clock.advance(leaseMs / 2)
    await eventually(() => extendedAt.length >= 2, { ...settle, message: 'two heartbeats' })
    // Each heartbeat came before the lease it renews could lapse, with room to spare.
    expect(extendedAt[0]! - startedAt).toBeLessThan(leaseMs)
    expect(extendedAt[1]! - extendedAt[0]!).toBeLessThan(leaseMs)
    // Past the first lease, but the heartbeat moved it: nobody else can take the job.
    clock.advance(firstLeaseUntil - clock.now() + 50)
    expect(await queue.receive(1)).toEqual([])
    expect(await queue.stats()).toMatchObject({ inFlight: 1, visible: 0 })
    h.finish('long')
    await eventually(async () => (await queue.stats()).inFlight === 0, settle)
    // And the heartbeat stops with the job.
    const beats = extendedAt.length
    await new Promise((resolve) => setTimeout(resolve, 450))
    expect(extendedAt).toHaveLength(beats)
  })

  it('stop lets running jobs finish within the grace period, and claims nothing new', async () => {
    const h = gatedHandler()
    const { queue, worker, metrics } = scene(h.handler, { concurrency: 1 })
    await queue.enqueue(jobs('running', 'waiting'))
    await eventually(() => h.started.length === 1, settle)
    const stopped = worker.stop(5_000)
    setTimeout(() => h.finish('running'), 30)
    await stopped
    expect(h.signals[0]!.aborted).toBe(false)
    expect(h.started.map((j) => j.id)).toEqual(['running'])
    expect(await counted(metrics)).toEqual({ ready: 1 })
    expect(await queue.stats()).toMatchObject({ visible: 1, inFlight: 0 })
  })

  it('stop releases, after the grace period, the jobs still running, and aborts them', async () => {
    const h = gatedHandler()
    const { queue, worker, metrics } = scene(h.handler, { concurrency: 2 })
    await queue.enqueue(jobs('x', 'y'))
    await eventually(() => h.running() === 2, settle)
    const started = performance.now()
    await worker.stop(100)
    expect(performance.now() - started).toBeGreaterThanOrEqual(95)
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(h.signals.map((s) => s.aborted)).toEqual([true, true])
    // Released, not failed: visible again at once, no error recorded, the next lease is attempt 2.
    expect(await queue.stats()).toMatchObject({ visible: 2, inFlight: 0, delayed: 0 })
    expect(await counted(metrics)).toEqual({ released: 2 })
    // A handler that ends after its release changes nothing: no ack, no second count.
    h.finish('x')
    h.finish('y')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await counted(metrics)).toEqual({ released: 2 })
    const again = await queue.receive(2)
    expect(again.map((j) => [j.id, j.attempts]).sort()).toEqual([
      ['x', 2],
      ['y', 2],
    ])
  })

  it('nudge claims a job at once instead of at the next poll', async () => {
    const h = gatedHandler()
    const { queue, worker } = scene(h.handler, { pollMs: 60_000 })
    // Let the first (empty) claim happen, so the loop is asleep for a minute.
    await new Promise((resolve) => setTimeout(resolve, 20))
    await queue.enqueue(jobs('pushed'))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(h.started).toEqual([])
    worker.nudge()
    await eventually(() => h.started.length === 1, { ...settle, message: 'claimed after nudge' })
  })

  it('dead-letters, without running it, a job delivered more often than allowed: the earlier deliveries crashed', async () => {
    const handled: string[] = []
    const dead: { job: LeasedJob; code: string }[] = []
    const { queue, worker, metrics, clock, logs } = scene(
      {
        async handle(job) {
          handled.push(job.id)
          return 'ready'
        },
        onDead: async (job, _error, code) => void dead.push({ job, code }),
      },
      { maxAttempts: 2, pollMs: 60_000, leaseMs: 1_000 },
    )
    await new Promise((resolve) => setTimeout(resolve, 20)) // the first, empty claim is done
    await queue.enqueue(jobs('killer'))
    // Two deliveries that never settled: each took its worker down before an ack or a fail.
    for (let i = 0; i < 2; i++) {
      expect(await queue.receive(1)).toHaveLength(1)
      clock.advance(1_001)
    }
    worker.nudge()
    await eventually(() => dead.length === 1, { ...settle, message: 'the crash loop ended' })
    expect(handled).toEqual([])
    expect(dead[0]).toMatchObject({
      job: { id: 'killer', attempts: 3 },
      code: 'PROCESSING_CRASHED',
    })
    expect(await queue.listDead(10)).toMatchObject([{ id: 'killer', attempts: 3 }])
    expect(await counted(metrics)).toEqual({ dead: 1 })
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: 'job crashed its worker on every delivery: dead-lettered without running it',
        queue: 'sqlite',
        jobId: 'killer',
        imageId: 'killer',
        attempt: 3,
      }),
    )
  })

  it('logs a redelivered job at info, and every finished job at debug with its timings', async () => {
    const h = gatedHandler()
    const { queue, worker, clock, logs } = scene(h.handler, { pollMs: 60_000, leaseMs: 1_000 })
    await new Promise((resolve) => setTimeout(resolve, 20))
    await queue.enqueue([
      {
        id: 'again',
        payload: JSON.stringify({ v: 2, imageId: 'again', queuedAt: Date.now() - 5_000 }),
      },
    ])
    expect(await queue.receive(1)).toHaveLength(1) // a worker that died holding it
    clock.advance(1_001)
    worker.nudge()
    await eventually(() => h.started.length === 1, settle)
    h.finish('again', 2)
    const done = await eventually(() => logs.find((l) => l.msg === 'job done') ?? false, {
      ...settle,
      message: 'the completion line',
    })
    expect(done).toMatchObject({
      level: 20,
      queue: 'sqlite',
      jobId: 'again',
      imageId: 'again',
      attempt: 2,
      outcome: 'ready',
    })
    expect(done.durationMs).toBeGreaterThanOrEqual(0)
    // From the upload's commit (queuedAt) to the start of this delivery.
    expect(done.waitedMs).toBeGreaterThanOrEqual(5_000)
    expect(done.waitedMs).toBeLessThan(60_000)
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 30,
        msg: 'job redelivered: an earlier delivery ended without a result',
        jobId: 'again',
        imageId: 'again',
        attempt: 2,
      }),
    )
  })

  it('logs an ack refused as stale at warn', async () => {
    const h = gatedHandler()
    const { queue, clock, logs } = scene(h.handler, { leaseMs: 60_000 })
    await queue.enqueue(jobs('late'))
    await eventually(() => h.started.length === 1, settle)
    clock.advance(60_001)
    expect(await queue.receive(1)).toHaveLength(1)
    h.finish('late')
    const line = await eventually(
      () =>
        logs.find((l) => l.msg === 'ack refused: the lease was lost, another holder has the job') ??
        false,
      { ...settle, message: 'the stale-ack line' },
    )
    expect(line).toMatchObject({ level: 40, queue: 'sqlite', jobId: 'late', attempt: 1 })
    expect(line.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('logs losing the queue once at warn and regaining it at info', async () => {
    let down = true
    const { logs } = scene(gatedHandler().handler, {
      pollMs: 5,
      wrap: (q) => ({
        ...q,
        receive: async (max) => {
          if (down) throw new Error('SQLITE_BUSY: database is locked')
          return q.receive(max)
        },
      }),
    })
    await eventually(() => logs.filter((l) => l.msg === 'claiming jobs failed').length >= 3, settle)
    const lost = logs.filter((l) => l.msg === 'queue unavailable: claiming jobs failed')
    expect(lost).toHaveLength(1)
    expect(lost[0]).toMatchObject({ level: 40, queue: 'sqlite' })
    down = false
    const back = await eventually(
      () => logs.find((l) => l.msg === 'queue available again') ?? false,
      settle,
    )
    expect(back).toMatchObject({ level: 30, queue: 'sqlite' })
    expect(back.downMs).toBeGreaterThanOrEqual(0)
  })
})
