import { type Kysely, type Selectable, sql, type Transaction } from 'kysely'
import { dialectOf } from '../db/database.js'
import type { ImageEvent, ImageEventData, ImageEventType } from '../domain/events.js'
import type { EventsTable, MetadataDb } from './db.js'

/**
 * The event outbox of one shard: `appendEvent` runs inside the change's own transaction, readers
 * page by `seq`.
 *
 * Gap safety. A reader keeps the last seq it handed out and asks for the rows after it. On
 * PostgreSQL a `serial` is taken at insert but seen at commit, so seq 11 could be visible while
 * seq 10 is still in flight, and a reader past 11 would never see 10. So an event's transaction
 * takes a per-database advisory lock just before it takes its seq and keeps it until it ends:
 * event seqs are taken one transaction at a time, each after the previous one committed (its rows
 * visible: PostgreSQL marks a transaction committed before it releases its locks) or rolled back
 * (its seq a hole for good). Whatever a reader sees is then a final prefix, with no settle time to
 * guess. The lock is held only for the event's insert and the commit (the event is the change's
 * last statement), which bounds one shard's event-writing commits to one at a time: a few hundred
 * per second per shard, well above what workers complete. SQLite has one writer at a time and
 * takes the seq under its lock already.
 */
export interface StoredEvent extends ImageEvent {
  /** Position in this shard's outbox: what `readEvents(afterSeq)` pages by. */
  seq: number
  /** The shard the event was written on (null for a store never registered as a shard). */
  shardId: number | null
  bucket: number
}

export interface NewEvent {
  bucket: number
  ownerId: string
  imageId: string
  type: ImageEventType
  data: ImageEventData
  now: number
}

/** One owner's events after a position, and the position to resume from. */
export interface OwnerEventsPage {
  events: StoredEvent[]
  /**
   * Where the next read starts: the last event's seq, or further (the shard's head) when
   * the page was complete, so an idle reader's position keeps up with the shard and does not fall
   * behind the retention.
   */
  position: number
}

type Trx = Transaction<MetadataDb>

/** Key of the advisory lock that orders event seqs (any constant; advisory locks are per database). */
const EVENT_SEQ_LOCK = 0x70_66_65_76 // "pfev"

/**
 * Writes one event in the caller's transaction, as its last statement: it commits or rolls back
 * with the change. See above for the lock.
 */
export async function appendEvent(trx: Trx, event: NewEvent): Promise<void> {
  if (dialectOf(trx) === 'postgres')
    await sql`select pg_advisory_xact_lock(${EVENT_SEQ_LOCK})`.execute(trx)
  await trx
    .insertInto('events')
    .values({
      bucket: event.bucket,
      owner_id: event.ownerId,
      image_id: event.imageId,
      type: event.type,
      data: JSON.stringify(event.data),
      created_at: event.now,
    })
    .execute()
}

/**
 * The event of a change to image `imageId`, written in the change's transaction as its last
 * statement. The owner comes from the row: pass it when the row is gone (a delete).
 */
export async function recordImageEvent(
  trx: Trx,
  imageId: string,
  type: ImageEventType,
  data: Omit<ImageEventData, 'imageId'>,
  now: number,
  deleted?: { owner_id: string; bucket: number },
): Promise<void> {
  const row =
    deleted ??
    (await trx
      .selectFrom('images')
      .select(['owner_id', 'bucket'])
      .where('id', '=', imageId)
      .executeTakeFirstOrThrow())
  await appendEvent(trx, {
    bucket: Number(row.bucket),
    ownerId: row.owner_id,
    imageId,
    type,
    data: { imageId, ...data },
    now,
  })
}

const PRUNED_KEY = 'events_pruned_through'

export function eventQueries(db: Kysely<MetadataDb>) {
  let shardId: Promise<number | null> | null = null

  /** The shard's registered id, kept in shard_meta (see shard-set.ts); read once. */
  function idOfShard(): Promise<number | null> {
    shardId ??= db
      .selectFrom('shard_meta')
      .select(['key', 'value'])
      .where('key', 'in', ['shard_id', 'shard_index'])
      .execute()
      .then((rows) => {
        const row = rows.find((r) => r.key === 'shard_id') ?? rows[0]
        return row ? Number(row.value) : null
      })
    return shardId
  }

  /** Rows after `afterSeq` in seq order: every visible row is final (see above). */
  async function rowsAfter(afterSeq: number, limit: number, ownerId?: string) {
    let query = db.selectFrom('events').selectAll().where('seq', '>', afterSeq)
    if (ownerId !== undefined) query = query.where('owner_id', '=', ownerId)
    const rows = await query.orderBy('seq').limit(limit).execute()
    const id = await idOfShard()
    return rows.map((row) => toStoredEvent(row, id))
  }

  async function prunedThrough(from: Kysely<MetadataDb> | Trx = db): Promise<number> {
    const row = await from
      .selectFrom('shard_meta')
      .select('value')
      .where('key', '=', PRUNED_KEY)
      .executeTakeFirst()
    return row ? Number(row.value) : 0
  }

  /** The newest seq: every event at or below it is final, so a new reader starts here. */
  async function eventsHead(): Promise<number> {
    const row = await db
      .selectFrom('events')
      .select((eb) => eb.fn.max('seq').as('head'))
      .executeTakeFirst()
    return row?.head === null || row?.head === undefined ? prunedThrough() : Number(row.head)
  }

  return {
    /**
     * Every owner's events after `afterSeq`, in seq order, at most `limit`: the webhook
     * dispatcher's reader. Gap-safe (see above): a caller that stores the last seq it processed
     * and passes it back never skips an event and never sees one twice.
     */
    readEvents(afterSeq: number, limit: number): Promise<StoredEvent[]> {
      return rowsAfter(afterSeq, limit)
    },

    /** One owner's events after `afterSeq` (the live stream), and where to resume. */
    async readOwnerEvents(
      ownerId: string,
      afterSeq: number,
      limit: number,
    ): Promise<OwnerEventsPage> {
      // The head first: every row at or below it is visible, so the owner's rows among them are
      // all in the page below unless the limit cut it.
      const head = await eventsHead()
      const events = await rowsAfter(afterSeq, limit, ownerId)
      const last = events.at(-1)?.seq ?? afterSeq
      return { events, position: events.length < limit ? Math.max(last, head) : last }
    },

    eventsHead,

    /** Every seq at or below this was pruned: a reader positioned before it may have missed events. */
    eventsPrunedThrough: (): Promise<number> => prunedThrough(),

    /** Deletes events created before `before` (epoch ms) and records how far pruning reached. */
    async pruneEvents(before: number): Promise<number> {
      const oldest = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('seq').as('through'))
        .where('created_at', '<', before)
        .executeTakeFirst()
      if (oldest?.through === null || oldest?.through === undefined) return 0
      const through = Number(oldest.through)
      return db.transaction().execute(async (trx) => {
        const deleted = await trx
          .deleteFrom('events')
          .where('seq', '<=', through)
          .executeTakeFirst()
        const value = String(Math.max(through, await prunedThrough(trx)))
        await trx
          .insertInto('shard_meta')
          .values({ key: PRUNED_KEY, value })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
          .execute()
        return Number(deleted.numDeletedRows)
      })
    },
  }
}

function toStoredEvent(row: Selectable<EventsTable>, shardId: number | null): StoredEvent {
  const seq = Number(row.seq)
  return {
    id: `${shardId ?? 'x'}-${seq}`,
    seq,
    shardId,
    bucket: Number(row.bucket),
    type: row.type as ImageEventType,
    ownerId: row.owner_id,
    occurredAt: Number(row.created_at),
    data: JSON.parse(row.data) as ImageEventData,
  }
}
