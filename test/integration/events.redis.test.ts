import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { ALL_BUCKETS, createRedisNotifier, type EventNotifier } from '../../src/events/notifier.js'
import { eventually } from '../fixtures/eventually.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL ?? ''
if (!REDIS_URL)
  console.info(
    'events.redis.test.ts skipped: set PIXELFLOW_TEST_REDIS_URL=redis://127.0.0.1:6379 to run it',
  )

/** Wake-up hints over Redis pub/sub: each notifier has its own connections, as a process does. */
describe.skipIf(!REDIS_URL)('event hints over Redis', () => {
  const opened: EventNotifier[] = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((n) => n.close()))
  })

  async function notifier(channel: string, url = REDIS_URL) {
    const n = await createRedisNotifier({ url, channel })
    opened.push(n)
    return n
  }

  it('a hint published by one process wakes the other’s listeners, once, and its own at once', async () => {
    const channel = `pixelflow-test:${randomUUID()}:events`
    const [worker, api] = [await notifier(channel), await notifier(channel)]
    const heard = { worker: [] as number[], api: [] as number[] }
    worker.subscribe((b) => heard.worker.push(b))
    api.subscribe((b) => heard.api.push(b))
    // Both subscriptions are live once each has woken its own listeners with ALL_BUCKETS.
    await eventually(() => heard.worker.includes(ALL_BUCKETS) && heard.api.includes(ALL_BUCKETS), {
      message: 'subscribed',
    })
    heard.worker.length = 0
    heard.api.length = 0
    worker.publish(42)
    expect(heard.worker).toEqual([42]) // its own streams, without a round trip
    await eventually(() => heard.api.length > 0, { message: 'the hint in the other process' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(heard.api).toEqual([42])
    expect(heard.worker).toEqual([42]) // not a second time from Redis
  })

  it('an unreachable Redis never throws: local listeners still hear the hint', async () => {
    const lost = await notifier('x', 'redis://127.0.0.1:1')
    const heard: number[] = []
    lost.subscribe((b) => heard.push(b))
    expect(() => lost.publish(7)).not.toThrow()
    expect(heard).toEqual([7])
  })
})
