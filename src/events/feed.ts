import type { StoredEvent } from '../metadata/shard-events.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { decodePosition, encodePosition } from './position.js'

/** The part of the metadata layer the feed reads: every shard, each one's event outbox. */
export type EventShards = Pick<ShardedMetadata, 'shards' | 'shard'>

/** An event with the id that resumes right after it. */
export interface FeedEntry {
  event: StoredEvent
  id: string
}

/**
 * One reader's place: the last seq passed per shard, and the shards whose start could not be
 * read yet (down when the stream began; they start at their head once they answer).
 */
export interface Cursor {
  readonly positions: Map<number, number>
  readonly unknown: Set<number>
}

export interface Opened {
  cursor: Cursor
  /**
   * The resumed id is older than the retention on some shard: events after it may have been
   * pruned. The cursor already stands at the oldest retained event.
   */
  expired: boolean
}

export interface FeedPage {
  entries: FeedEntry[]
  /** Where the cursor stands after the page (also when it held no event: idle shards move on). */
  id: string
  /** Some shard filled the page: read again at once instead of waiting. */
  more: boolean
}

export interface EventFeedOptions {
  shards: EventShards
  /** Events per shard and read. */
  batchSize?: number
  /** A shard that did not answer: its position stays, its events come once it answers again. */
  onShardError?: (error: unknown, shardId: number) => void
}

export type EventFeed = ReturnType<typeof createEventFeed>

/**
 * One owner's events across the shards, after a position (the live stream's use case). Shards
 * are read in parallel, each from its own position; a page merges them by time.
 */
export function createEventFeed(options: EventFeedOptions) {
  const { shards, batchSize = 100, onShardError = () => {} } = options
  const shardIds = () => shards.shards().map((h) => h.id)

  /** Runs `op` on each shard, reporting (not throwing) failures. */
  async function each<T>(ids: number[], op: (id: number) => Promise<T>): Promise<(T | null)[]> {
    return Promise.all(
      ids.map((id) =>
        op(id).catch((error: unknown) => {
          onShardError(error, id)
          return null
        }),
      ),
    )
  }

  async function headsOf(ids: number[], cursor: Cursor): Promise<void> {
    const heads = await each(ids, async (id) => (await shards.shard(id)).eventsHead())
    ids.forEach((id, i) => {
      const head = heads[i]
      if (head === null || head === undefined) {
        cursor.unknown.add(id)
        return
      }
      cursor.unknown.delete(id)
      cursor.positions.set(id, head)
    })
  }

  return {
    /**
     * Where a stream starts: after `lastEventId`, or (none given) at every shard's head, so only
     * changes from now on are sent. A shard registered after the id was handed out starts at its
     * beginning: all of its events are newer than the id.
     */
    async open(lastEventId?: string): Promise<Opened> {
      const cursor: Cursor = { positions: new Map(), unknown: new Set() }
      if (lastEventId === undefined) {
        await headsOf(shardIds(), cursor)
        return { cursor, expired: false }
      }
      for (const [shard, seq] of decodePosition(lastEventId)) cursor.positions.set(shard, seq)
      const ids = shardIds()
      for (const id of ids) if (!cursor.positions.has(id)) cursor.positions.set(id, 0)
      const pruned = await each(ids, async (id) => (await shards.shard(id)).eventsPrunedThrough())
      let expired = false
      ids.forEach((id, i) => {
        const through = pruned[i] ?? 0
        if (through > (cursor.positions.get(id) ?? 0)) {
          expired = true
          cursor.positions.set(id, through)
        }
      })
      return { cursor, expired }
    },

    /** The owner's next events after `cursor`, which it advances. */
    async read(ownerId: string, cursor: Cursor): Promise<FeedPage> {
      const ids = shardIds()
      for (const id of ids)
        if (!cursor.positions.has(id) && !cursor.unknown.has(id)) cursor.positions.set(id, 0)
      const waiting = ids.filter((id) => cursor.unknown.has(id))
      if (waiting.length > 0) await headsOf(waiting, cursor)
      const readable = ids.filter((id) => !waiting.includes(id) && cursor.positions.has(id))
      const pages = await each(readable, async (id) =>
        (await shards.shard(id)).readOwnerEvents(ownerId, cursor.positions.get(id) ?? 0, batchSize),
      )
      const events = pages
        .flatMap((page) => page?.events ?? [])
        .sort(
          (a, b) =>
            a.occurredAt - b.occurredAt || (a.shardId ?? 0) - (b.shardId ?? 0) || a.seq - b.seq,
        )
      const entries = events.map((event) => {
        cursor.positions.set(event.shardId ?? 0, event.seq)
        return { event, id: encodePosition(cursor.positions) }
      })
      readable.forEach((id, i) => {
        const page = pages[i]
        if (page) cursor.positions.set(id, page.position)
      })
      return {
        entries,
        id: encodePosition(cursor.positions),
        more: pages.some((page) => (page?.events.length ?? 0) >= batchSize),
      }
    },

    /** The id of a cursor as it stands. */
    idOf: (cursor: Cursor): string => encodePosition(cursor.positions),
  }
}
