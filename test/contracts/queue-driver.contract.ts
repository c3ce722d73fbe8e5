import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LeasedJob, QueueDriver } from '../../src/queue/queue.js'

export interface QueueContractOptions {
  leaseMs: number
  maxAttempts: number
  /** Drivers must use this clock for leases, delays and ages, so the suite never sleeps. */
  now: () => number
  /** A retry becomes visible again within backoffMaxMs of its failure. */
  backoffBaseMs: number
  backoffMaxMs: number
}

const LEASE_MS = 30_000
// Full jitter draws a delay in [0, base]: with a large base, "not visible at once" fails ~1 in 60,000 runs.
const BACKOFF = { backoffBaseMs: 30_000, backoffMaxMs: 60_000 }

/** The QueueDriver contract (DESIGN.md §4, src/queue/queue.ts), driven by a fake clock. */
export function describeQueueDriver(name: string, create: (opts: QueueContractOptions) => Promise<QueueDriver>) {
  describe(`QueueDriver contract: ${name}`, () => {
    let clock: number
    let opened: QueueDriver[]
    let queue: QueueDriver

    async function open(maxAttempts = 3): Promise<QueueDriver> {
      const driver = await create({ leaseMs: LEASE_MS, maxAttempts, now: () => clock, ...BACKOFF })
      opened.push(driver)
      return driver
    }
    async function receiveOne(q = queue): Promise<LeasedJob> {
      const [job, ...rest] = await q.receive(1)
      expect(rest).toEqual([])
      if (!job) throw new Error('expected a job to be visible')
      return job
    }

    beforeEach(async () => {
      clock = 1_700_000_000_000
      opened = []
      queue = await open()
    })
    afterEach(async () => {
      await Promise.all(opened.map((driver) => driver.close()))
    })

    it('delivers an enqueued job with attempts 1, a token and a lease counted from the claim', async () => {
      await queue.enqueue([{ id: 'j1', payload: '{"image":"é"}' }])
      clock += 5 * LEASE_MS // waiting in the queue does not use up the lease
      const job = await receiveOne()
      expect(job).toMatchObject({ id: 'j1', payload: '{"image":"é"}', attempts: 1, leaseUntil: clock + LEASE_MS })
      expect(job.token).toEqual(expect.any(String))
      expect(job.token.length).toBeGreaterThan(0)
      clock += LEASE_MS - 1
      expect(await queue.receive(10)).toEqual([])
    })

    it('keeps one job when the same id is enqueued twice, even while it is leased', async () => {
      await queue.enqueue([{ id: 'dup', payload: 'first' }, { id: 'dup', payload: 'again' }])
      await queue.enqueue([{ id: 'dup', payload: 'later' }])
      const job = await receiveOne()
      expect(job.payload).toBe('first')
      await queue.enqueue([{ id: 'dup', payload: 'while leased' }])
      expect(await queue.receive(10)).toEqual([])
      expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 1 })
    })

    it('redelivers a job only once its lease expires, with a new token and attempts 2', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne()
      clock += LEASE_MS - 1
      expect(await queue.receive(10)).toEqual([])
      clock += 1
      const second = await receiveOne()
      expect(second).toMatchObject({ id: 'j1', payload: 'p', attempts: 2 })
      expect(second.token).not.toBe(first.token)
    })

    it('refuses an ack with a stale token and leaves the newer lease alone', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne()
      clock += LEASE_MS
      const second = await receiveOne()
      expect(await queue.ack('j1', first.token)).toBe(false)
      expect(await queue.stats()).toMatchObject({ inFlight: 1, visible: 0 })
      expect(await queue.ack('j1', second.token)).toBe(true)
      expect(await queue.ack('j1', second.token)).toBe(false)
      clock += 10 * LEASE_MS
      expect(await queue.receive(10)).toEqual([])
      expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 })
    })

    it('refuses a late ack after the lease expired, and the job comes back', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      clock += LEASE_MS
      expect(await queue.ack('j1', job.token)).toBe(false)
      expect(await receiveOne()).toMatchObject({ id: 'j1', attempts: 2 })
    })

    it('extends a lease past its original expiry, for the token holder only', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      clock += LEASE_MS - 1
      expect(await queue.extend('j1', 'not-the-token')).toBe(false)
      expect(await queue.extend('j1', job.token)).toBe(true)
      clock += LEASE_MS - 1 // well past the original leaseUntil
      expect(await queue.receive(10)).toEqual([])
      expect(await queue.ack('j1', job.token)).toBe(true)
    })

    it('refuses to extend an expired lease', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      clock += LEASE_MS
      expect(await queue.extend('j1', job.token)).toBe(false)
    })

    it('release makes the job visible at once, invalidates the token and never dead-letters', async () => {
      const single = await open(1)
      await single.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne(single)
      expect(await single.release('j1', job.token)).toBe(true)
      expect(await single.ack('j1', job.token)).toBe(false)
      const again = await receiveOne(single)
      expect(again).toMatchObject({ id: 'j1', payload: 'p' })
      expect(again.token).not.toBe(job.token)
      expect(await single.release('j1', 'stale')).toBe(false)
      expect((await single.stats()).dead).toBe(0)
      expect(await single.listDead(10)).toEqual([])
    })

    it('retries a failure after a delay until maxAttempts, then dead-letters with the error history', async () => {
      const enqueuedAt = clock
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      for (let attempt = 1; attempt <= 3; attempt++) {
        const job = await receiveOne()
        expect(job.attempts).toBe(attempt)
        const outcome = await queue.fail('j1', job.token, `error ${attempt}`)
        if (attempt < 3) {
          expect(outcome).toBe('retry')
          expect(await queue.receive(10)).toEqual([])
          expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 1 })
          clock += BACKOFF.backoffMaxMs
        } else {
          expect(outcome).toBe('dead')
        }
      }
      clock += 100 * BACKOFF.backoffMaxMs
      expect(await queue.receive(10)).toEqual([])
      expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 1 })
      const dead = await queue.listDead(10)
      expect(dead).toEqual([
        { id: 'j1', payload: 'p', attempts: 3, errors: ['error 1', 'error 2', 'error 3'], createdAt: enqueuedAt },
      ])
    })

    it('redrives a dead job back to the queue; enqueue alone does not', async () => {
      const single = await open(1)
      await single.enqueue([{ id: 'j1', payload: 'p' }])
      expect(await single.fail('j1', (await receiveOne(single)).token, 'boom')).toBe('dead')
      await single.enqueue([{ id: 'j1', payload: 'p' }])
      expect(await single.receive(10)).toEqual([])
      expect(await single.redrive('missing')).toBe(false)
      expect(await single.redrive('j1')).toBe(true)
      expect(await single.redrive('j1')).toBe(false)
      expect(await single.listDead(10)).toEqual([])
      expect(await receiveOne(single)).toMatchObject({ id: 'j1', payload: 'p', attempts: 1 })
    })

    it('answers fail with a stale token with "stale" and changes nothing', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne()
      expect(await queue.fail('j1', 'wrong', 'x')).toBe('stale')
      clock += LEASE_MS
      expect(await queue.fail('j1', first.token, 'late')).toBe('stale') // expired, not yet re-leased
      const second = await receiveOne()
      expect(await queue.fail('j1', first.token, 'x')).toBe('stale')
      expect(await queue.stats()).toMatchObject({ inFlight: 1, delayed: 0 })
      expect(await queue.ack('j1', second.token)).toBe(true)
    })

    it('counts visible, in flight, delayed and dead jobs', async () => {
      const q = await open(2)
      await q.enqueue([{ id: 'dead', payload: '' }])
      expect(await q.fail('dead', (await receiveOne(q)).token, 'e')).toBe('retry')
      clock += BACKOFF.backoffMaxMs
      expect(await q.fail('dead', (await receiveOne(q)).token, 'e')).toBe('dead')
      await q.enqueue([{ id: 'delayed', payload: '' }])
      expect(await q.fail('delayed', (await receiveOne(q)).token, 'e')).toBe('retry')
      await q.enqueue([{ id: 'leased', payload: '' }])
      expect((await receiveOne(q)).id).toBe('leased')
      await q.enqueue([{ id: 'v1', payload: '' }, { id: 'v2', payload: '' }])
      expect(await q.stats()).toMatchObject({ visible: 2, inFlight: 1, delayed: 1, dead: 1 })
    })

    it('reports the age of the oldest visible job, 0 when none waits', async () => {
      expect((await queue.stats()).oldestAgeMs).toBe(0)
      await queue.enqueue([{ id: 'old', payload: '' }])
      clock += 7_000
      await queue.enqueue([{ id: 'new', payload: '' }])
      expect((await queue.stats()).oldestAgeMs).toBe(7_000)
      clock += 500
      expect((await queue.stats()).oldestAgeMs).toBe(7_500)
      expect(await queue.receive(10)).toHaveLength(2)
      expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 2, oldestAgeMs: 0 })
    })

    it('receive(max) returns at most max distinct jobs', async () => {
      await queue.enqueue(['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, payload: id })))
      expect(await queue.receive(0)).toEqual([])
      const first = await queue.receive(2)
      const rest = await queue.receive(10)
      expect(first).toHaveLength(2)
      expect(rest).toHaveLength(3)
      expect(new Set([...first, ...rest].map((job) => job.id))).toEqual(new Set(['a', 'b', 'c', 'd', 'e']))
      expect(await queue.receive(10)).toEqual([])
    })

    it('answers check() while open', async () => {
      await expect(queue.check()).resolves.toBeUndefined()
    })
  })
}
