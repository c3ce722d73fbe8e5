import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createLocalDiskStore } from '../../src/storage/drivers/local-disk.js'
import { createRedisLocks } from '../../src/transforms/locks/redis.js'
import { concurrentMisses } from '../contracts/derived-cache.scene.js'
import { describeRenderLocks } from '../contracts/render-locks.contract.js'
import { freePort } from '../fixtures/serve-process.js'
import { useTempDirs } from '../fixtures/temp-dirs.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL ?? ''
if (!REDIS_URL)
  console.info(
    'render-locks.redis.test.ts skipped: set PIXELFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 to run it',
  )

describe.skipIf(!REDIS_URL)('render locks on Redis', () => {
  // Each test its own prefix: two "processes" sharing one Redis, and nobody else's keys.
  describeRenderLocks('redis', async () => {
    const prefix = `pf-test-${randomUUID()}:`
    return [
      createRedisLocks({ url: REDIS_URL, prefix }),
      createRedisLocks({ url: REDIS_URL, prefix }),
    ]
  })

  it('grants the lock when Redis does not answer: a render may repeat, it never stops', async () => {
    const down = `redis://127.0.0.1:${await freePort()}`
    const locks = createRedisLocks({ url: down, prefix: 'x:', commandTimeoutMs: 200 })
    const started = Date.now()
    const release = await locks.acquire('k', 1000)
    expect(release).not.toBeNull()
    await release!()
    expect(Date.now() - started).toBeLessThan(2_000)
    await locks.close()
  })
})

describe.skipIf(!REDIS_URL)('derived results across processes on one Redis', () => {
  const tempDir = useTempDirs('pixelflow-derived-redis-')
  it('renders a new result once for 40 requests spread over 4 lock clients', async () => {
    const store = createLocalDiskStore({ root: await tempDir() })
    const prefix = `pf-test-${randomUUID()}:`
    const locks = Array.from({ length: 4 }, () => createRedisLocks({ url: REDIS_URL, prefix }))
    const { renders, bodies } = await concurrentMisses(store, locks, 40)
    await Promise.all(locks.map((l) => l.close()))
    expect(renders).toBe(1)
    expect(new Set(bodies)).toEqual(new Set(['rendered-bytes']))
  })
})
