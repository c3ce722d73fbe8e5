import { describe, expect, it } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import { counted, gatedHandler, jobs, scene, settle } from '../../test/fixtures/worker-scene.js'
import type { LeasedJob } from '../queue/queue.js'

describe('startWorker: crash loops and the trace a fault leaves', () => {
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
        // Never started, says the handler; but SQLite counts claims only, and its count decides.
        startsBefore: async () => 0,
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

  it("on a broker that counts held deliveries, trusts the handler's lower count of starts", async () => {
    const handled: LeasedJob[] = []
    const dead: { id: string; code: string }[] = []
    // Each delivered twice without starting (held by a worker that died). 'held' records its
    // start before its error, 'early' fails before recording one, 'unknown' has no record.
    const starts = new Map([
      ['held', 0],
      ['early', 0],
    ])
    const { queue, worker, clock } = scene(
      {
        async handle(job) {
          handled.push(job)
          if (job.id === 'held') starts.set('held', 1)
          throw new Error('shard unreachable')
        },
        onDead: async (job, _error, code) => void dead.push({ id: job.id, code }),
        startsBefore: async (job) => starts.get(job.id) ?? null,
      },
      {
        maxAttempts: 2,
        pollMs: 60_000,
        leaseMs: 1_000,
        wrap: (q) => ({ ...q, countsHeldDeliveries: true }),
      },
    )
    await new Promise((resolve) => setTimeout(resolve, 20))
    await queue.enqueue(jobs('held', 'early', 'unknown'))
    for (let i = 0; i < 2; i++) {
      expect(await queue.receive(3)).toHaveLength(3)
      clock.advance(1_001)
    }
    worker.nudge()
    await eventually(
      async () => expect(await queue.stats()).toMatchObject({ inFlight: 0, delayed: 1, dead: 2 }),
      { ...settle, message: 'every job settled' },
    )
    // 'held' ran and its error is retried (one start of 2); the others are dead, each by its rule.
    expect(handled.map((job) => job.id).sort()).toEqual(['early', 'held'])
    expect(dead.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'early', code: 'RETRIES_EXHAUSTED' },
      { id: 'unknown', code: 'PROCESSING_CRASHED' },
    ])
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
