import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'
import { type OwnRedis, ownRedis } from './fixtures/own-redis.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL
if (!REDIS_URL)
  console.info(
    'gateway.redis.test.ts skipped: set PIXELFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 to run it',
  )

/**
 * Several real API processes sharing one data folder and one Redis, as a scaled-out gateway:
 * the rate limit is one limit across them, and a delete in one is seen by the others at once.
 */
describe.skipIf(!REDIS_URL)('the gateway across API processes on Redis', () => {
  let dir: string
  let key: string
  let env: Record<string, string>
  const processes: ServeProcess[] = []

  let prefix = ''
  beforeEach(() => {
    // Each test its own keys: rate-limit state of one test must not spend another's budget.
    prefix = `pixelflow-test:${randomUUID()}:`
  })

  async function serve(extra: Record<string, string> = {}): Promise<ServeProcess> {
    const process = await startRole(
      { ...env, PIXELFLOW_REDIS_PREFIX: prefix, ...extra },
      await freePort(),
    )
    processes.push(process)
    return process
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-gateway-'))
    env = {
      PIXELFLOW_DATA_DIR: dir,
      PIXELFLOW_REDIS_URL: REDIS_URL!,
      PIXELFLOW_LOG_LEVEL: 'warn',
      PIXELFLOW_WORKER_CONCURRENCY: '1',
    }
    key = cli(env, 'keys', 'create', '--owner', 'fleet-owner')
  })
  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.child.kill('SIGKILL')
      await p.exited
    }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const auth = () => ({ authorization: `Bearer ${key}` })

  it('3 processes share one limit: at most N (+1%) pass, every 429 carries Retry-After', async () => {
    const limit = 60
    // A long window, so replenishment during the test adds well under 1 % of N.
    // A generous Redis timeout: on a loaded CI machine a slow answer would fall back to the local
    // limiters (fail open, by design), which is what the Redis-stopped tests check, not this one.
    const settings = {
      PIXELFLOW_RATE_LIMIT_READS: String(limit),
      PIXELFLOW_RATE_LIMIT_WINDOW_MS: '3600000',
      PIXELFLOW_RATE_LIMIT_TIMEOUT_MS: '2000',
      PIXELFLOW_WORKER_ENABLED: 'false',
    }
    const fleet = await Promise.all([0, 1, 2].map(() => serve(settings)))
    const results = await Promise.all(
      Array.from({ length: 240 }, (_, i) =>
        fetch(`${fleet[i % 3]!.url}/v1/images`, { headers: auth() }).then(async (res) => ({
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
        })),
      ),
    )
    const allowed = results.filter((r) => r.status === 200).length
    const refused = results.filter((r) => r.status === 429)
    expect(allowed).toBeLessThanOrEqual(Math.floor(limit * 1.01))
    expect(allowed).toBeGreaterThanOrEqual(limit - 1)
    expect(allowed + refused.length).toBe(240)
    for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1)
  })

  it('a delete in one process is seen by another within one second', async () => {
    const [a, b] = await Promise.all([serve(), serve({ PIXELFLOW_WORKER_ENABLED: 'false' })])
    const upload = await fetch(`${a!.url}/v1/images`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'image/jpeg' },
      body: new Uint8Array(await makeJpeg(200, 100)),
    })
    const { id } = (await upload.json()) as { id: string }
    // B reads it: now it sits in B's in-process cache and in Redis.
    await eventually(
      async () => {
        const res = await fetch(`${b!.url}/v1/images/${id}`, { headers: auth() })
        expect(res.status).toBe(200)
        expect(((await res.json()) as any).status).toBe('ready')
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'B sees the image ready' },
    )
    expect(
      (await fetch(`${a!.url}/v1/images/${id}`, { method: 'DELETE', headers: auth() })).status,
    ).toBe(204)
    const deletedAt = Date.now()
    // Waits up to 3 s so that a slow invalidation is reported with how long it really took.
    await eventually(
      async () => (await fetch(`${b!.url}/v1/images/${id}`, { headers: auth() })).status === 404,
      { timeoutMs: 3_000, intervalMs: 20, message: 'B answers 404 after the delete' },
    )
    expect(Date.now() - deletedAt).toBeLessThan(1000)
  })

  describe('with Redis stopped mid-test', () => {
    let redis: OwnRedis
    beforeAll(async () => {
      redis = await ownRedis()
      await redis.start()
    })
    afterAll(() => redis.kill())

    // The limiter's deadline is raised from its 250 ms default: on a machine busy with the rest of
    // the suite a healthy Redis answered later than that, so the request before the kill fell back
    // to the local limiter (fail open: one count too many; fail closed: a 503). A request may
    // still take up to the deadline, not longer: that is the "none hangs" bound.
    const LIMITER_TIMEOUT_MS = '1000'
    const HANG_MS = 1000 + 500

    async function timedGet(url: string): Promise<{ status: number; ms: number; body: any }> {
      const started = Date.now()
      const res = await fetch(url, { headers: auth(), signal: AbortSignal.timeout(5000) })
      return { status: res.status, ms: Date.now() - started, body: await res.json() }
    }

    it('fail open: requests are served by the local limiter, none hangs', async () => {
      const p = await serve({
        PIXELFLOW_REDIS_URL: redis.url,
        PIXELFLOW_RATE_LIMIT_ON_REDIS_FAILURE: 'open',
        PIXELFLOW_RATE_LIMIT_TIMEOUT_MS: LIMITER_TIMEOUT_MS,
        PIXELFLOW_RATE_LIMIT_READS: '5',
        PIXELFLOW_RATE_LIMIT_WINDOW_MS: '3600000',
        PIXELFLOW_WORKER_ENABLED: 'false',
      })
      expect((await timedGet(`${p.url}/v1/images`)).status).toBe(200)
      await redis.kill()
      const after = []
      for (let i = 0; i < 8; i++) after.push(await timedGet(`${p.url}/v1/images`))
      for (const r of after) expect(r.ms).toBeLessThan(HANG_MS)
      // The local fallback limiter still limits: 5 per window in this process.
      expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
      await redis.start()
    })

    it('fail closed: 503 RATE_LIMITER_UNAVAILABLE at once, none hangs', async () => {
      const p = await serve({
        PIXELFLOW_REDIS_URL: redis.url,
        PIXELFLOW_RATE_LIMIT_ON_REDIS_FAILURE: 'closed',
        PIXELFLOW_RATE_LIMIT_TIMEOUT_MS: LIMITER_TIMEOUT_MS,
        PIXELFLOW_WORKER_ENABLED: 'false',
      })
      expect((await timedGet(`${p.url}/v1/images`)).status).toBe(200)
      await redis.kill()
      for (let i = 0; i < 5; i++) {
        const r = await timedGet(`${p.url}/v1/images`)
        expect(r.status).toBe(503)
        expect(r.body.code).toBe('RATE_LIMITER_UNAVAILABLE')
        expect(r.ms).toBeLessThan(HANG_MS)
      }
      await redis.start()
      await eventually(
        async () => expect((await timedGet(`${p.url}/v1/images`)).status).toBe(200),
        {
          timeoutMs: 5_000,
          intervalMs: 100,
          message: 'requests served again once Redis is back',
        },
      )
    })
  })
})
