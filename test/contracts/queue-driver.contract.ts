import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { LeasedJob, QueueDriver, QueueStats } from '../../src/queue/queue.js'
import { eventually } from '../fixtures/eventually.js'

/** What the driver under test is created with. */
export interface QueueContractOptions {
  leaseMs: number
  maxAttempts: number
  /** Drivers must use this clock for leases, delays and ages. */
  now: () => number
  /** A retry becomes visible again within backoffMaxMs of its failure. */
  backoffBaseMs: number
  backoffMaxMs: number
}

/** Fake for embedded drivers (advance moves time, nothing sleeps); real for brokers (advance sleeps). */
export interface ContractClock {
  now(): number
  advance(ms: number): Promise<void>
}

/**
 * What a driver cannot promise. A flag set to false swaps an assertion for the weaker guarantee
 * the driver does give; it never just drops the check.
 */
export interface QueueCapabilities {
  /**
   * A second enqueue of an id that is queued, leased or dead is a no-op. A broker cannot do this:
   * AMQP 0-9-1 has no server-side deduplication by message id, and looking ids up before a publish
   * would race across producers. Duplicates must then be harmless (workers are idempotent): the
   * suite asserts every copy is delivered as its own lease with its own token, each can be acked
   * on its own, and a dead job stays dead until it is redriven.
   */
  dedupesById: boolean
  /**
   * stats() knows the age of the oldest waiting job. The SQS API has no such figure (only
   * CloudWatch does): such a driver leaves oldestAgeMs out rather than report a false 0, and the
   * suite asserts exactly that.
   */
  reportsOldestAge: boolean
}

export interface QueueContractSetup {
  clock: ContractClock
  leaseMs: number
  /** The driver test pins jitter so a retry is never due "at once" (a delay of ~0 would be flaky). */
  backoffBaseMs: number
  backoffMaxMs: number
  /**
   * How long the driver may take to show a change it has promised (a redelivery, a delay-queue
   * hop, a count): 0 for drivers that are consistent at once, whose time boundaries are then
   * checked to the millisecond. "Not yet" checks are made this long (at least 1 ms) before the due
   * time, so it must stay under half the lease (the extend check has to land past the first lease).
   */
  settleMs: number
  capabilities: QueueCapabilities
}

export function fakeClock(start = 1_700_000_000_000): ContractClock {
  let at = start
  return { now: () => at, advance: async (ms) => void (at += ms) }
}

export function realClock(): ContractClock {
  return {
    now: () => Date.now(),
    // Timers may fire a millisecond early against Date.now(): sleep until the wall clock got there.
    async advance(ms) {
      const until = Date.now() + ms
      while (Date.now() < until) await sleep(until - Date.now())
    },
  }
}

/** The QueueDriver contract (src/queue/queue.ts). */
export function describeQueueDriver(
  name: string,
  setup: QueueContractSetup,
  create: (opts: QueueContractOptions) => Promise<QueueDriver>,
) {
  const { clock, leaseMs, settleMs, capabilities } = setup
  const backoff = { backoffBaseMs: setup.backoffBaseMs, backoffMaxMs: setup.backoffMaxMs }
  const guard = Math.max(1, settleMs)
  if (2 * settleMs >= leaseMs) throw new Error(`${name}: settleMs must stay under half of leaseMs`)

  describe(`QueueDriver contract: ${name}`, () => {
    let opened: QueueDriver[]
    let queue: QueueDriver

    async function open(maxAttempts = 3): Promise<QueueDriver> {
      const driver = await create({ leaseMs, maxAttempts, now: () => clock.now(), ...backoff })
      opened.push(driver)
      return driver
    }
    const advanceTo = (at: number) => clock.advance(Math.max(0, at - clock.now()))

    // A driver may take settleMs to show a change; with settleMs 0 `eventually` reads exactly once.
    const settle = { timeoutMs: settleMs, intervalMs: 20 }
    async function receiveOne(q = queue): Promise<LeasedJob> {
      const [job, ...rest] = await eventually(
        async () => {
          const jobs = await q.receive(1)
          return jobs.length > 0 && jobs
        },
        { ...settle, message: 'a job visible' },
      )
      expect(rest).toEqual([])
      return job!
    }
    async function expectStats(q: QueueDriver, expected: Partial<QueueStats>): Promise<void> {
      await eventually(async () => expect(await q.stats()).toMatchObject(expected), {
        ...settle,
        message: 'the queue stats',
      })
    }
    function expectWithin(value: number, low: number, high: number): void {
      expect(value).toBeGreaterThanOrEqual(low)
      expect(value).toBeLessThanOrEqual(high)
    }

    beforeEach(async () => {
      opened = []
      queue = await open()
    })
    afterEach(async () => {
      await Promise.all(opened.map((driver) => driver.close()))
    })

    it('delivers an enqueued job with attempts 1, a token and a lease counted from the claim', async () => {
      await queue.enqueue([{ id: 'j1', payload: '{"image":"é"}' }])
      await clock.advance(2 * leaseMs) // waiting in the queue does not use up the lease
      const before = clock.now()
      const job = await receiveOne()
      expect(job).toMatchObject({ id: 'j1', payload: '{"image":"é"}', attempts: 1 })
      expectWithin(job.leaseUntil, before + leaseMs, clock.now() + leaseMs)
      expect(job.token).toEqual(expect.any(String))
      expect(job.token.length).toBeGreaterThan(0)
      await advanceTo(job.leaseUntil - guard)
      expect(await queue.receive(10)).toEqual([])
    })

    if (capabilities.dedupesById) {
      it('keeps one job when the same id is enqueued twice, even while it is leased', async () => {
        await queue.enqueue([
          { id: 'dup', payload: 'first' },
          { id: 'dup', payload: 'again' },
        ])
        await queue.enqueue([{ id: 'dup', payload: 'later' }])
        const job = await receiveOne()
        expect(job.payload).toBe('first')
        await queue.enqueue([{ id: 'dup', payload: 'while leased' }])
        expect(await queue.receive(10)).toEqual([])
        await expectStats(queue, { visible: 0, inFlight: 1 })
      })
    } else {
      it('delivers every copy of a re-enqueued id as its own lease, each acked on its own', async () => {
        await queue.enqueue([
          { id: 'dup', payload: 'first' },
          { id: 'dup', payload: 'again' },
        ])
        await queue.enqueue([{ id: 'dup', payload: 'later' }])
        const job = await receiveOne()
        await queue.enqueue([{ id: 'dup', payload: 'while leased' }])
        await expectStats(queue, { visible: 3, inFlight: 1 })
        const copies = [job, ...(await queue.receive(10))]
        // Each copy once, in no particular order: a broker without dedup need not be FIFO either.
        expect(copies.map((copy) => copy.payload).sort()).toEqual([
          'again',
          'first',
          'later',
          'while leased',
        ])
        expect(copies.every((copy) => copy.id === 'dup' && copy.attempts === 1)).toBe(true)
        expect(new Set(copies.map((copy) => copy.token)).size).toBe(4)
        for (const copy of copies) expect(await queue.ack('dup', copy.token)).toBe(true)
        await clock.advance(leaseMs + settleMs)
        expect(await queue.receive(10)).toEqual([])
        await expectStats(queue, { visible: 0, inFlight: 0 })
      })
    }

    it('redelivers a job only once its lease expires, with a new token and attempts 2', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne()
      await advanceTo(first.leaseUntil - guard)
      expect(await queue.receive(10)).toEqual([])
      await advanceTo(first.leaseUntil)
      const second = await receiveOne()
      expect(second).toMatchObject({ id: 'j1', payload: 'p', attempts: 2 })
      expect(second.token).not.toBe(first.token)
    })

    it('refuses an ack with a stale token and leaves the newer lease alone', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne()
      await advanceTo(first.leaseUntil)
      const second = await receiveOne()
      expect(await queue.ack('j1', first.token)).toBe(false)
      await expectStats(queue, { inFlight: 1, visible: 0 })
      expect(await queue.ack('j1', second.token)).toBe(true)
      expect(await queue.ack('j1', second.token)).toBe(false)
      await clock.advance(leaseMs + settleMs) // past any lease: an acked job never comes back
      expect(await queue.receive(10)).toEqual([])
      await expectStats(queue, { visible: 0, inFlight: 0, delayed: 0, dead: 0 })
    })

    it('refuses a late ack after the lease expired, and the job comes back', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      await advanceTo(job.leaseUntil)
      expect(await queue.ack('j1', job.token)).toBe(false)
      expect(await receiveOne()).toMatchObject({ id: 'j1', attempts: 2 })
    })

    it('extends a lease past its original expiry, for the token holder only', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      await advanceTo(job.leaseUntil - guard)
      expect(await queue.extend('j1', 'not-the-token')).toBe(false)
      const extendedAt = clock.now()
      expect(await queue.extend('j1', job.token)).toBe(true)
      await advanceTo(extendedAt + leaseMs - guard) // well past the original leaseUntil
      expect(clock.now()).toBeGreaterThan(job.leaseUntil)
      expect(await queue.receive(10)).toEqual([])
      expect(await queue.ack('j1', job.token)).toBe(true)
    })

    it('refuses to extend an expired lease', async () => {
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const job = await receiveOne()
      await advanceTo(job.leaseUntil)
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
      const before = clock.now()
      await queue.enqueue([{ id: 'j1', payload: 'p' }])
      const after = clock.now()
      for (let attempt = 1; attempt <= 3; attempt++) {
        const job = await receiveOne()
        expect(job.attempts).toBe(attempt)
        const outcome = await queue.fail('j1', job.token, `error ${attempt}`)
        if (attempt < 3) {
          expect(outcome).toBe('retry')
          expect(await queue.receive(10)).toEqual([])
          await expectStats(queue, { visible: 0, inFlight: 0, delayed: 1 })
          await clock.advance(backoff.backoffMaxMs)
        } else {
          expect(outcome).toBe('dead')
        }
      }
      await clock.advance(backoff.backoffMaxMs + settleMs) // past any backoff: a dead job stays dead
      expect(await queue.receive(10)).toEqual([])
      await expectStats(queue, { visible: 0, inFlight: 0, delayed: 0, dead: 1 })
      const dead = await queue.listDead(10)
      expect(dead).toEqual([
        {
          id: 'j1',
          payload: 'p',
          attempts: 3,
          errors: ['error 1', 'error 2', 'error 3'],
          createdAt: expect.any(Number),
        },
      ])
      expectWithin(dead[0]!.createdAt, before, after)
    })

    it("fail decides by the caller's lower count of tries: a retry where its own would dead-letter", async () => {
      const twice = await open(2)
      await twice.enqueue([{ id: 'j1', payload: 'p' }])
      const first = await receiveOne(twice)
      await advanceTo(first.leaseUntil) // never started, as a prefetched copy its worker died with
      const second = await receiveOne(twice)
      expect(second.attempts).toBe(2)
      expect(await twice.fail('j1', second.token, 'boom', 1)).toBe('retry')
      await clock.advance(backoff.backoffMaxMs)
      const third = await receiveOne(twice)
      // Without the caller's count, the queue's own decides again: at maxAttempts, dead.
      expect(await twice.fail('j1', third.token, 'boom again')).toBe('dead')
      expect(await twice.listDead(10)).toMatchObject([{ id: 'j1', errors: ['boom', 'boom again'] }])
    })

    it('redrives a dead job back to the queue; enqueue alone does not', async () => {
      const single = await open(1)
      await single.enqueue([{ id: 'j1', payload: 'p' }])
      expect(await single.fail('j1', (await receiveOne(single)).token, 'boom')).toBe('dead')
      await single.enqueue([{ id: 'j1', payload: 'p' }])
      if (capabilities.dedupesById) {
        expect(await single.receive(10)).toEqual([])
      } else {
        // The re-enqueue is a new copy (see dedupesById); the dead one must stay dead regardless.
        const copy = await receiveOne(single)
        expect(await single.ack('j1', copy.token)).toBe(true)
        expect(await single.listDead(10)).toMatchObject([{ id: 'j1', errors: ['boom'] }])
      }
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
      await advanceTo(first.leaseUntil)
      expect(await queue.fail('j1', first.token, 'late')).toBe('stale') // expired, not yet re-leased
      const second = await receiveOne()
      expect(await queue.fail('j1', first.token, 'x')).toBe('stale')
      await expectStats(queue, { inFlight: 1, delayed: 0 })
      expect(await queue.ack('j1', second.token)).toBe(true)
    })

    it('counts visible, in flight, delayed and dead jobs', async () => {
      const q = await open(2)
      await q.enqueue([{ id: 'dead', payload: '' }])
      expect(await q.fail('dead', (await receiveOne(q)).token, 'e')).toBe('retry')
      await clock.advance(backoff.backoffMaxMs)
      expect(await q.fail('dead', (await receiveOne(q)).token, 'e')).toBe('dead')
      await q.enqueue([{ id: 'delayed', payload: '' }])
      expect(await q.fail('delayed', (await receiveOne(q)).token, 'e')).toBe('retry')
      await q.enqueue([{ id: 'leased', payload: '' }])
      expect((await receiveOne(q)).id).toBe('leased')
      await q.enqueue([
        { id: 'v1', payload: '' },
        { id: 'v2', payload: '' },
      ])
      await expectStats(q, { visible: 2, inFlight: 1, delayed: 1, dead: 1 })
    })

    it.runIf(!setup.capabilities.reportsOldestAge)(
      'leaves the oldest age out when it cannot know it',
      async () => {
        await queue.enqueue([{ id: 'old', payload: '' }])
        await clock.advance(Math.min(1_000, leaseMs / 3))
        expect((await queue.stats()).oldestAgeMs).toBeUndefined()
      },
    )

    it.runIf(setup.capabilities.reportsOldestAge)(
      'reports the age of the oldest visible job, 0 when none waits',
      async () => {
        const gap = Math.min(7_000, leaseMs)
        const step = Math.min(500, Math.round(leaseMs / 3))
        expect((await queue.stats()).oldestAgeMs).toBe(0)
        await queue.enqueue([{ id: 'old', payload: '' }])
        await clock.advance(gap)
        await queue.enqueue([{ id: 'new', payload: '' }])
        expectWithin((await queue.stats()).oldestAgeMs ?? -1, gap, gap + settleMs)
        await clock.advance(step)
        expectWithin((await queue.stats()).oldestAgeMs ?? -1, gap + step, gap + step + settleMs)
        await expectStats(queue, { visible: 2 })
        expect(await queue.receive(10)).toHaveLength(2)
        await expectStats(queue, { visible: 0, inFlight: 2, oldestAgeMs: 0 })
      },
    )

    it('receive(max) returns at most max distinct jobs', async () => {
      await queue.enqueue(['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, payload: id })))
      await expectStats(queue, { visible: 5 })
      expect(await queue.receive(0)).toEqual([])
      const first = await queue.receive(2)
      const rest = await queue.receive(10)
      expect(first).toHaveLength(2)
      expect(rest).toHaveLength(3)
      expect(new Set([...first, ...rest].map((job) => job.id))).toEqual(
        new Set(['a', 'b', 'c', 'd', 'e']),
      )
      expect(await queue.receive(10)).toEqual([])
    })

    it('answers check() while open', async () => {
      await expect(queue.check()).resolves.toBeUndefined()
    })
  })
}
