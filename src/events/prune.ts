import type { ShardedMetadata } from '../metadata/sharded-metadata.js'

export interface EventPruningOptions {
  metadata: Pick<ShardedMetadata, 'shards' | 'shard'>
  retentionMs: number
  intervalMs: number
  onPruned?: (shardId: number, deleted: number) => void
  onError?: (error: unknown, shardId: number) => void
  now?: () => number
}

/** Deletes events older than the retention on every shard, once now and then every interval. */
export function startEventPruning(options: EventPruningOptions) {
  const { metadata, retentionMs, now = Date.now } = options
  let running: Promise<void> | null = null
  const sweep = async () => {
    for (const handle of metadata.shards()) {
      try {
        const deleted = await (await metadata.shard(handle.id)).pruneEvents(now() - retentionMs)
        if (deleted > 0) options.onPruned?.(handle.id, deleted)
      } catch (error) {
        // One shard down must not stop the others' pruning.
        options.onError?.(error, handle.id)
      }
    }
  }
  const tick = () => {
    running ??= sweep().finally(() => (running = null))
    return running
  }
  const timer = setInterval(tick, options.intervalMs)
  timer.unref()
  void tick()
  return {
    /** One sweep now (tests, and the first start). */
    sweep: tick,
    async stop(): Promise<void> {
      clearInterval(timer)
      await running
    },
  }
}
