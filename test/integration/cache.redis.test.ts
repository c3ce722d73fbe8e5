import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { Cache } from '../../src/cache/cache.js'
import { createRedisCache } from '../../src/cache/drivers/redis.js'
import { describeCache, slowLoader } from '../contracts/cache.contract.js'
import { eventually } from '../fixtures/eventually.js'
import { freePort } from '../fixtures/serve-process.js'
import { HAS_REDIS_SERVER, ownRedis as makeOwnRedis, type OwnRedis } from './fixtures/own-redis.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL ?? ''
if (!REDIS_URL)
  console.info(
    'cache.redis.test.ts skipped: set PIXELFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 to run it',
  )
const PEER = fileURLToPath(new URL('./fixtures/cache-peer.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const opened: Cache<unknown>[] = []
const servers: OwnRedis[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()))
  await Promise.all(servers.splice(0).map((server) => server.kill()))
})

/**
 * Caches created with the same `space` share keys and invalidations, like processes of one
 * deployment. Against the shared Redis a loaded CI box can exceed the 250 ms default command
 * timeout, which would turn reads into misses and fail writes, so those tests allow 2 s; the
 * outage tests (own server) keep the default they are about. `now` is the L1 clock.
 */
async function redisCache(
  url = REDIS_URL,
  space = randomUUID(),
  now?: () => number,
): Promise<Cache<unknown>> {
  const cache = await createRedisCache<unknown>({
    url,
    prefix: `pixelflow-test:${space}:`,
    channel: `pixelflow-test:${space}:invalidate`,
    ttlMs: 60_000,
    l1: { maxEntries: 100, ttlMs: 60_000, now },
    commandTimeoutMs: url === REDIS_URL ? 2000 : undefined,
  })
  opened.push(cache)
  return cache
}

async function ownRedis(): Promise<OwnRedis> {
  const server = await makeOwnRedis()
  await server.start()
  servers.push(server)
  return server
}

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now()
  const result = await work
  return { result, ms: performance.now() - started }
}

/** A fake L1 clock; not 0, which lru-cache reads as "no TTL". */
function fakeClock() {
  let at = 1_700_000_000_000
  return { now: () => at, advance: (ms: number) => void (at += ms) }
}

/** Writes a value straight into Redis, as the driver stores it, without any invalidation. */
async function overwriteInRedis(space: string, key: string, value: unknown): Promise<void> {
  const { Redis } = await import('ioredis')
  const raw = new Redis(REDIS_URL)
  try {
    // KEEPTTL: only the value changes behind the cache's back, not how long Redis keeps it.
    await raw.set(`pixelflow-test:${space}:v:${key}`, JSON.stringify(value), 'KEEPTTL')
  } finally {
    await raw.quit()
  }
}

describe.skipIf(!REDIS_URL)('redis cache', () => {
  // L1 runs on the contract's fake clock; Redis expires L2 keys (PX) on its own clock, which no
  // fake can move, so letting a TTL pass there still waits for real (a few hundred ms in all).
  describeCache('redis', (now) => redisCache(REDIS_URL, randomUUID(), now), {
    sharedTierKeepsTime: true,
  })

  it('serves an L1 copy until its ttl has passed on the L1 clock, then reads Redis again', async () => {
    const clock = fakeClock()
    const space = randomUUID()
    const cache = await redisCache(REDIS_URL, space, clock.now)
    expect(await cache.getOrLoad('k', slowLoader('original', 1))).toBe('original')
    await overwriteInRedis(space, 'k', 'changed behind its back')
    clock.advance(60_000)
    expect(await cache.get('k')).toBe('original')
    clock.advance(1)
    expect(await cache.get('k')).toBe('changed behind its back')
  })

  it('keeps an L1 copy read from Redis no longer than the Redis entry has left', async () => {
    const clock = fakeClock()
    const space = randomUUID()
    const [writer, reader] = [
      await redisCache(REDIS_URL, space),
      await redisCache(REDIS_URL, space, clock.now),
    ]
    await writer.set('k', 'original', 10_000)
    expect(await reader.getOrLoad('k', slowLoader('not loaded: Redis has it', 1))).toBe('original')
    await overwriteInRedis(space, 'k', 'changed behind its back')
    // L1's own ttl is 60 s; the copy must go with the 10 s (less what the read took) left in Redis.
    // A read within the set's millisecond sees all 10 000 ms left, and an entry is stale only once
    // its age exceeds its ttl (as the test above shows at 60 s): one past it.
    clock.advance(10_001)
    expect(await reader.get('k')).toBe('changed behind its back')
  })

  it('keeps a load that raced another process’s delete or set out of Redis', async () => {
    const space = randomUUID()
    const [a, b, fresh] = [
      await redisCache(REDIS_URL, space),
      await redisCache(REDIS_URL, space),
      await redisCache(REDIS_URL, space),
    ]
    const deleted = a.getOrLoad('del', slowLoader('stale', 100))
    const replaced = a.getOrLoad('set', slowLoader('stale', 100))
    await sleep(30)
    await Promise.all([b.delete('del'), b.set('set', 'new')])
    expect([await deleted, await replaced]).toEqual(['stale', 'stale'])
    expect([await fresh.get('del'), await fresh.get('set')]).toEqual([undefined, 'new'])
    expect([await a.get('del'), await a.get('set')]).toEqual([undefined, 'new'])
  })

  it('drops the key from another OS process’s L1 within one second of a delete', async () => {
    const space = randomUUID()
    const cache = await redisCache(REDIS_URL, space)
    await cache.set('shared', 'from the test')
    const args = {
      url: REDIS_URL,
      prefix: `pixelflow-test:${space}:`,
      channel: `pixelflow-test:${space}:invalidate`,
      key: 'shared',
    }
    const peer = spawn(process.execPath, ['--import', 'tsx', PEER, JSON.stringify(args)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const lines = createInterface({ input: peer.stdout })[Symbol.asyncIterator]()
      expect((await lines.next()).value).toBe('ready from the test')
      const started = performance.now()
      await cache.delete('shared')
      const seen = await Promise.race([lines.next(), sleep(5000, { value: 'no miss within 5 s' })])
      expect(seen.value).toBe('miss')
      expect(performance.now() - started).toBeLessThan(1000)
    } finally {
      peer.kill('SIGKILL')
    }
  })

  describe.skipIf(!HAS_REDIS_SERVER)('when Redis goes away', () => {
    it('still answers getOrLoad, get, set and delete quickly after Redis is SIGKILLed', async () => {
      const server = await ownRedis()
      const cache = await redisCache(server.url)
      expect(await cache.getOrLoad('warm', slowLoader('cached', 1))).toBe('cached')
      await server.kill()
      for (let i = 0; i < 20; i++) {
        const { result, ms } = await timed(
          cache.getOrLoad(`cold-${i}`, slowLoader(`loaded-${i}`, 1)),
        )
        expect(result).toBe(`loaded-${i}`)
        expect(ms).toBeLessThan(500)
      }
      const burst = await timed(
        Promise.all(
          Array.from({ length: 50 }, (_, i) => cache.getOrLoad(`burst-${i}`, slowLoader(i, 1))),
        ),
      )
      expect(burst.result).toHaveLength(50)
      expect(burst.ms).toBeLessThan(500)
      expect((await timed(cache.getOrLoad('warm', slowLoader('reloaded', 1)))).result).toBe(
        'cached',
      )
      const miss = await timed(cache.get('nothing'))
      expect(miss.result).toBeUndefined()
      expect(miss.ms).toBeLessThan(500)
      for (const write of [cache.set('k', 'v'), cache.delete('k')]) {
        const started = performance.now()
        await expect(write).rejects.toThrow()
        expect(performance.now() - started).toBeLessThan(500)
      }
    })

    it('bounds each read by the command timeout when Redis hangs (SIGSTOP)', async () => {
      const server = await ownRedis()
      const cache = await redisCache(server.url)
      server.freeze()
      for (let i = 0; i < 3; i++) {
        const { result, ms } = await timed(cache.getOrLoad(`hung-${i}`, slowLoader('loaded', 1)))
        expect(result).toBe('loaded')
        expect(ms).toBeLessThan(500)
      }
    })

    it('starts and serves loads when Redis is unreachable from the start', async () => {
      const { result: cache, ms: startMs } = await timed(
        redisCache(`redis://127.0.0.1:${await freePort()}`),
      )
      expect(startMs).toBeLessThan(1500)
      const { result, ms } = await timed(cache.getOrLoad('k', slowLoader({ id: 'k' }, 1)))
      expect(result).toEqual({ id: 'k' })
      expect(ms).toBeLessThan(500)
    })

    it('clears L1 once the subscriber reconnects (invalidations may have been missed)', async () => {
      const first = await ownRedis()
      const cache = await redisCache(first.url)
      expect(await cache.getOrLoad('k', slowLoader('before the outage', 1))).toBe(
        'before the outage',
      )
      await first.kill()
      expect(await cache.getOrLoad('k', slowLoader('during', 1))).toBe('before the outage')
      await first.start()
      await eventually(
        async () =>
          expect(await cache.getOrLoad('k', slowLoader('after the outage', 1))).toBe(
            'after the outage',
          ),
        {
          timeoutMs: 5_000,
          intervalMs: 50,
          message: 'L1 cleared after the subscriber reconnected',
        },
      )
    })
  })
})
