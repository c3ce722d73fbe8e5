import { AppError } from '../errors/index.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { createEventFeed, type EventShards, type FeedPage } from './feed.js'
import type { EventNotifier } from './notifier.js'
import { createStreamLimits } from './stream-limits.js'
import { watchEvents } from './watch.js'

export interface EventStreamsOptions {
  metadata: EventShards & Pick<ShardedMetadata, 'bucketOfOwner'>
  notifier: EventNotifier
  /** Read again after this long without a hint. */
  pollMs: number
  maxStreamsPerOwner: number
  maxStreams: number
  /** Events per shard and read. */
  batchSize?: number
  onShardError?: (error: unknown, shardId: number) => void
}

/** A stream as the API serves it: where it starts, then its pages until the signal aborts. */
export interface EventStream {
  /** The id of the starting position: a client holding it resumes exactly here. */
  id: string
  /** The resumed id was older than the retention: events may have been missed. */
  expired: boolean
  pages(signal: AbortSignal): AsyncGenerator<FeedPage>
  /** Frees the stream's slot (idempotent). */
  release(): void
}

export type EventStreams = ReturnType<typeof createEventStreams>

/** The live stream's use case: one owner's events after a Last-Event-ID, woken by hints. */
export function createEventStreams(options: EventStreamsOptions) {
  const { metadata, notifier, pollMs } = options
  const feed = createEventFeed({
    shards: metadata,
    batchSize: options.batchSize,
    onShardError: options.onShardError,
  })
  const limits = createStreamLimits({
    perOwner: options.maxStreamsPerOwner,
    total: options.maxStreams,
  })
  return {
    /** TOO_MANY_STREAMS when a limit is reached; EVENT_ID_INVALID for an id we never handed out. */
    async open(ownerId: string, lastEventId?: string): Promise<EventStream> {
      const release = limits.acquire(ownerId)
      if (!release)
        throw new AppError(
          'TOO_MANY_STREAMS',
          'Too many event streams are open for this owner or on this server; close one or retry later',
          { retryAfterSeconds: 5 },
        )
      try {
        const { cursor, expired } = await feed.open(lastEventId)
        const bucket = metadata.bucketOfOwner(ownerId)
        return {
          id: feed.idOf(cursor),
          expired,
          pages: (signal) =>
            watchEvents({ feed, notifier, ownerId, bucket, cursor, pollMs, signal }),
          release,
        }
      } catch (error) {
        release()
        throw error
      }
    },
    /** Streams open on this process. */
    get count(): number {
      return limits.open
    },
  }
}
