import { randomBytes } from 'node:crypto'
import type { Insertable, Kysely } from 'kysely'
import type { ImageEventType } from '../domain/events.js'
import type { WebhookTables } from './tables.js'

/** An event as the dispatcher needs it; start/ adapts the shards' outbox rows to this. */
export interface WebhookEvent {
  /** Stable and unique across shards: what a delivery records and a receiver may dedupe on. */
  id: string
  /** Position in its shard's outbox. */
  seq: number
  type: ImageEventType
  ownerId: string
  /** Epoch milliseconds of the change's commit. */
  occurredAt: number
  data: unknown
}

/** The event outboxes, injected by start/ so that webhooks need not know metadata. */
export interface EventSource {
  shards(): number[]
  /** Every owner's settled events after `afterSeq` in seq order, at most `limit` (gap-safe). */
  readEvents(shardId: number, afterSeq: number, limit: number): Promise<WebhookEvent[]>
  /** Every seq at or below this was pruned from the shard's outbox (the event retention). */
  prunedThrough?(shardId: number): Promise<number>
}

type Delivery = Insertable<WebhookTables['webhook_deliveries']>
type Db = Kysely<WebhookTables>

/** Rows per INSERT: well under SQLite's limit of bound parameters. */
const INSERT_CHUNK = 200

/**
 * Turns the next page of one shard's events into delivery rows, one per subscribed endpoint, and
 * advances the shard's cursor in the same control-db transaction: a crash either keeps both or
 * neither, so no event is skipped and none fans out twice. Two relay processes racing on one
 * shard collide on the cursor's compare-and-set and the loser rolls back (the unique
 * (endpoint, event) key would also refuse its rows). Returns how many events it consumed.
 */
export async function fanOutShard(
  db: Db,
  source: EventSource,
  shardId: number,
  limit: number,
  now: number,
): Promise<number> {
  const cursor = await readCursor(db, shardId)
  const after = cursor ?? 0
  const events = await source.readEvents(shardId, after, limit)
  const last = events.at(-1)
  if (!last) return 0
  const rows = await deliveriesFor(db, events, now)
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK)
      await trx
        .insertInto('webhook_deliveries')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
        .execute()
    if (cursor !== null) {
      const moved = await trx
        .updateTable('webhook_cursors')
        .set({ seq: last.seq })
        .where('shard_id', '=', shardId)
        .where('seq', '=', after)
        .executeTakeFirst()
      if (Number(moved.numUpdatedRows) !== 1) throw new CursorMoved(shardId)
    } else {
      // A concurrent first insert fails on the primary key and rolls this one back.
      await trx.insertInto('webhook_cursors').values({ shard_id: shardId, seq: last.seq }).execute()
    }
  })
  return events.length
}

/** The last seq of a shard already fanned out, or null before its first event. */
export async function readCursor(db: Db, shardId: number): Promise<number | null> {
  const row = await db
    .selectFrom('webhook_cursors')
    .select('seq')
    .where('shard_id', '=', shardId)
    .executeTakeFirst()
  return row ? Number(row.seq) : null
}

/** Another process advanced the cursor first: its fan-out stands, this one rolled back. */
export class CursorMoved extends Error {
  constructor(shardId: number) {
    super(`webhook cursor of shard ${shardId} moved concurrently`)
    this.name = 'CursorMoved'
  }
}

/**
 * One row per event and endpoint of its owner that subscribes to its type and existed when it
 * happened: an endpoint created today is not sent last month's events.
 */
async function deliveriesFor(db: Db, events: WebhookEvent[], now: number): Promise<Delivery[]> {
  const owners = [...new Set(events.map((event) => event.ownerId))]
  const endpoints = await db
    .selectFrom('webhook_endpoints')
    .select(['id', 'owner_id', 'events', 'created_at'])
    .where('owner_id', 'in', owners)
    .execute()
  const rows: Delivery[] = []
  for (const event of events) {
    for (const endpoint of endpoints) {
      if (endpoint.owner_id !== event.ownerId) continue
      if (!endpoint.events.split(' ').includes(event.type)) continue
      if (Number(endpoint.created_at) > event.occurredAt) continue
      rows.push({
        id: `msg_${randomBytes(16).toString('base64url')}`,
        endpoint_id: endpoint.id,
        owner_id: event.ownerId,
        event_id: event.id,
        event_type: event.type,
        payload: JSON.stringify({
          type: event.type,
          timestamp: new Date(event.occurredAt).toISOString(),
          data: event.data,
        }),
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
    }
  }
  return rows
}
