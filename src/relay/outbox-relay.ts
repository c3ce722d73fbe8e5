import type { Logger } from 'pino'
import { createPause } from '../lib/pause.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import type { QueueDriver } from '../queue/queue.js'

const NUDGE_COALESCE_MS = 5

export interface RelayOptions {
  metadata: ShardedMetadata
  queue: QueueDriver
  logger: Logger
  intervalMs: number
  batchSize?: number
  /** Called after jobs were published, so an in-process worker can claim them at once. */
  onPublished?: () => void
}

export interface OutboxRelay {
  nudge(): void
  /** Publishes every pending outbox row once; returns how many were published. */
  drain(): Promise<number>
  stop(): Promise<void>
}

/**
 * Moves committed outbox rows into the queue, then deletes them. A crash between the publish and
 * the delete publishes again after restart; enqueue is idempotent by job id and workers are
 * idempotent, so a duplicate is harmless, while a lost job is impossible.
 */
export function startOutboxRelay(options: RelayOptions): OutboxRelay {
  const batch = options.batchSize ?? 200
  const pause = createPause()
  let current: Promise<number> = Promise.resolve(0)

  async function drainShard(id: number): Promise<number> {
    const shard = await options.metadata.shard(id)
    let total = 0
    for (;;) {
      const items = await shard.readOutbox(batch)
      if (items.length === 0) return total
      await options.queue.enqueue(items.map((item) => ({ id: item.jobId, payload: item.payload })))
      await shard.removeOutbox(items.map((item) => item.seq))
      total += items.length
    }
  }

  async function drainAll(): Promise<number> {
    // Shards drain independently: one that is down must not hold back the others' jobs.
    const results = await Promise.allSettled(options.metadata.shards().map((h) => drainShard(h.id)))
    let total = 0
    for (const result of results) {
      if (result.status === 'fulfilled') total += result.value
      else options.logger.warn({ err: result.reason }, 'outbox relay: a shard failed')
    }
    if (total > 0) options.onPublished?.()
    return total
  }

  // One drain at a time: overlapping drains would publish the same rows twice for nothing.
  function drain(): Promise<number> {
    current = current.then(drainAll, drainAll)
    return current
  }

  async function loop(): Promise<void> {
    while (!pause.stopped) {
      await drain().catch((error) => options.logger.error({ err: error }, 'outbox relay failed'))
      await pause.until(options.intervalMs)
    }
  }

  const running = loop()
  // Nudges within a few milliseconds share one drain: under load a batch of uploads is published
  // in one queue transaction instead of one each.
  let nudged = false
  function nudge(): void {
    if (nudged) return
    nudged = true
    setTimeout(() => {
      nudged = false
      pause.wake()
    }, NUDGE_COALESCE_MS).unref()
  }

  return {
    nudge,
    drain,
    async stop() {
      pause.stop()
      await running
    },
  }
}
