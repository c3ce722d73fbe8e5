import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { QueueDriver } from '../queue/queue.js'
import { startOutboxRelay } from './outbox-relay.js'

describe('startOutboxRelay', () => {
  it('stop ends at once when it comes during a drain, not after the next interval', async () => {
    let reading: () => void = () => {}
    const inDrain = new Promise<void>((resolve) => (reading = resolve))
    // One shard whose outbox read answers a little later, as a networked database does.
    const shard = {
      readOutbox: async () => {
        reading()
        await new Promise((resolve) => setTimeout(resolve, 20))
        return []
      },
      removeOutbox: async () => {},
    }
    const metadata = {
      shards: () => [{ id: 0 }],
      shard: async () => shard,
    } as unknown as ShardedMetadata
    const relay = startOutboxRelay({
      metadata,
      queue: {} as QueueDriver,
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
    })
    await inDrain
    const started = performance.now()
    await relay.stop()
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})
