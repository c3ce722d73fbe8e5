import { describe, expect, it } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import {
  BACKOFF_MS,
  counted,
  gatedHandler,
  jobs,
  scene,
  settle,
} from '../../test/fixtures/worker-scene.js'
import type { LeasedJob } from '../queue/queue.js'

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

  it('stop ends at once when it comes while a claim is in flight, not after the next poll', async () => {
    let inClaim: () => void = () => {}
    const claiming = new Promise<void>((resolve) => (inClaim = resolve))
    const { worker } = scene(gatedHandler().handler, {
      pollMs: 60_000,
      // A broker that answers a claim later than the same turn (every networked one does).
      wrap: (q) => ({
        ...q,
        receive: async (max) => {
          inClaim()
          await new Promise((resolve) => setTimeout(resolve, 20))
          return q.receive(max)
        },
      }),
    })
    await claiming
    const started = performance.now()
    await worker.stop(0)
    expect(performance.now() - started).toBeLessThan(1_000)
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
})
