import { describe, expect, it } from 'vitest'
import { isAppError } from '../errors/index.js'
import { createMemoryRateLimiter } from './drivers/memory.js'
import type { ConcurrencySlot, RateLimiter } from './rate-limiter.js'
import {
  createResilientLimiter,
  type FailurePolicy,
  RATE_LIMITER_UNAVAILABLE,
} from './resilient.js'

const rule = { name: 'r', limit: 2, windowMs: 60_000 }
const TIMEOUT_MS = 50
// Generous for a loaded CI machine, and still proof of the bound: a hang would last forever.
const MARGIN_MS = 150

/** A primary that answers like `behaviour`: a broken Redis, a silent one, or a healthy one. */
function fakePrimary(behaviour: 'throw' | 'hang' | 'ok'): RateLimiter & { releases: number } {
  const real = createMemoryRateLimiter({ maxKeys: 100 })
  const act = <T>(ok: () => Promise<T>): Promise<T> =>
    behaviour === 'throw'
      ? Promise.reject(new Error('ECONNREFUSED'))
      : behaviour === 'hang'
        ? new Promise<T>(() => {})
        : ok()
  const fake = {
    driver: 'fake',
    releases: 0,
    consume: (key: string, r: typeof rule, cost?: number) => act(() => real.consume(key, r, cost)),
    acquire: (key: string, max: number, ttlMs: number) => act(() => real.acquire(key, max, ttlMs)),
    close: () => real.close(),
  }
  return fake
}

function resilient(primary: RateLimiter, policy: FailurePolicy, failures: unknown[] = []) {
  return createResilientLimiter({
    primary,
    fallback: createMemoryRateLimiter({ maxKeys: 100 }),
    policy,
    timeoutMs: TIMEOUT_MS,
    onFailure: (e) => failures.push(e),
  })
}

async function timed<T>(
  work: () => Promise<T>,
): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const started = performance.now()
  const [result] = await Promise.allSettled([work()])
  return { ms: performance.now() - started, result: result! }
}

describe('resilient rate limiter', () => {
  it('answers from the primary while it is healthy', async () => {
    const failures: unknown[] = []
    const limiter = resilient(fakePrimary('ok'), 'closed', failures)
    expect((await limiter.consume('k', rule)).remaining).toBe(1)
    expect(failures).toEqual([])
  })

  for (const behaviour of ['throw', 'hang'] as const) {
    it(`policy open: a primary that ${behaviour}s is replaced by the local limiter, within timeoutMs`, async () => {
      const failures: unknown[] = []
      const limiter = resilient(fakePrimary(behaviour), 'open', failures)
      const first = await timed(() => limiter.consume('k', rule))
      expect(first.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      expect(first.result).toMatchObject({
        status: 'fulfilled',
        value: { allowed: true, remaining: 1 },
      })
      await limiter.consume('k', rule)
      expect((await limiter.consume('k', rule)).allowed).toBe(false) // the local limit still holds
      expect(failures).toHaveLength(3)
    })

    it(`policy closed: a primary that ${behaviour}s gives RATE_LIMITER_UNAVAILABLE, within timeoutMs`, async () => {
      const limiter = resilient(fakePrimary(behaviour), 'closed')
      const { ms, result } = await timed(() => limiter.consume('k', rule))
      expect(ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      const error = result.status === 'rejected' ? result.reason : undefined
      expect(isAppError(error) && [error.code, error.statusCode]).toEqual([
        RATE_LIMITER_UNAVAILABLE,
        503,
      ])
      await expect(limiter.acquire('k', 1, 1000)).rejects.toMatchObject({
        code: RATE_LIMITER_UNAVAILABLE,
      })
    })
  }

  it('spends a unit the primary holds without calling it, even while it hangs; other costs still call it', async () => {
    const primary = fakePrimary('hang')
    const held = { allowed: true, limit: 2, remaining: 1, resetMs: 30_000, retryAfterMs: 0 }
    const asked: string[] = []
    const limiter = resilient(
      {
        ...primary,
        spendHeld: (key) => {
          asked.push(key)
          return key === 'held' ? held : null
        },
      },
      'closed',
    )
    // Policy closed and a primary that never answers: only a held unit can be allowed.
    expect(await limiter.consume('held', rule)).toEqual(held)
    // Nothing held for this key: the hanging primary is called and the deadline applies.
    await expect(limiter.consume('other', rule)).rejects.toMatchObject({
      code: RATE_LIMITER_UNAVAILABLE,
    })
    await expect(limiter.consume('held', rule, 2)).rejects.toMatchObject({
      code: RATE_LIMITER_UNAVAILABLE,
    })
    expect(asked).toEqual(['held', 'other'])
    // The gateway asks for a held unit itself, without a promise: the wrapper passes the primary's on.
    expect(limiter.spendHeld?.('held', rule)).toEqual(held)
    expect(limiter.spendHeld?.('other', rule)).toBeNull()
    expect(resilient(fakePrimary('ok'), 'open').spendHeld).toBeUndefined()
  })

  it('policy open: hands out local concurrency slots while the primary is down', async () => {
    const limiter = resilient(fakePrimary('throw'), 'open')
    const slot = await limiter.acquire('k', 1, 1000)
    expect(slot.acquired).toBe(true)
    expect((await limiter.acquire('k', 1, 1000)).acquired).toBe(false)
    await slot.release()
    expect((await limiter.acquire('k', 1, 1000)).acquired).toBe(true)
  })

  it('frees a primary slot that was granted only after the deadline', async () => {
    let release!: () => void
    const late: ConcurrencySlot = { acquired: true, release: async () => release() }
    const released = new Promise<void>((resolve) => (release = resolve))
    const primary = {
      ...fakePrimary('ok'),
      acquire: () => new Promise<ConcurrencySlot>((r) => setTimeout(() => r(late), TIMEOUT_MS * 2)),
    }
    const slot = await resilient(primary, 'open').acquire('k', 1, 1000)
    expect(slot.acquired).toBe(true) // from the fallback
    await released
  })

  it('does not hide programming errors as outages', async () => {
    const failures: unknown[] = []
    const limiter = resilient(fakePrimary('ok'), 'open', failures)
    await expect(limiter.consume('k', rule, 3)).rejects.toThrow(RangeError)
    await expect(limiter.acquire('k', 0, 1000)).rejects.toThrow(RangeError)
    expect(failures).toEqual([])
  })

  it('survives an onFailure hook that throws', async () => {
    const limiter = createResilientLimiter({
      primary: fakePrimary('throw'),
      fallback: createMemoryRateLimiter({ maxKeys: 100 }),
      policy: 'open',
      timeoutMs: TIMEOUT_MS,
      onFailure: () => {
        throw new Error('logger down')
      },
    })
    expect((await limiter.consume('k', rule)).allowed).toBe(true)
  })
})
