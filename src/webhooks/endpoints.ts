import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { IMAGE_EVENT_TYPES, type ImageEventType } from '../domain/events.js'
import { AppError } from '../errors/index.js'
import { checkUrl, type OutboundAllowList } from '../lib/ssrf.js'
import type { WebhookTables } from './tables.js'

/** An endpoint as its owner sees it: never the secret, except once in the creation's answer. */
export interface WebhookEndpoint {
  id: string
  url: string
  events: ImageEventType[]
  description: string | null
  createdAt: number
}

export interface NewEndpoint {
  url: string
  events?: ImageEventType[]
  description?: string
}

export interface DeliveryView {
  id: string
  eventId: string
  eventType: string
  state: 'pending' | 'delivered' | 'dead'
  attempts: number
  lastStatus: number | null
  lastError: string | null
  nextAttemptAt: number | null
  createdAt: number
  updatedAt: number
}

export interface EndpointSettings {
  maxEndpoints: number
  allow: OutboundAllowList
}

type Db = Kysely<WebhookTables>

/** The owner-facing side of webhooks: endpoints and their deliveries, always scoped to one owner. */
export function createWebhookEndpoints(db: Db, settings: EndpointSettings) {
  async function owned(
    ownerId: string,
    id: string,
  ): Promise<Selectable<WebhookTables['webhook_endpoints']>> {
    const row = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('owner_id', '=', ownerId)
      .executeTakeFirst()
    // Another owner's endpoint answers like a missing one: ids reveal nothing.
    if (!row) throw new AppError('WEBHOOK_NOT_FOUND', `No webhook endpoint ${id}`)
    return row
  }

  return {
    /** Checks the URL with the outbound guard (again at every delivery), then stores it. */
    async create(
      ownerId: string,
      input: NewEndpoint,
      now = Date.now(),
    ): Promise<WebhookEndpoint & { secret: string }> {
      await checkUrl(input.url, settings.allow)
      const events = normaliseEvents(input.events)
      const row = {
        id: `wh_${randomBytes(12).toString('base64url')}`,
        owner_id: ownerId,
        url: input.url,
        events: events.join(' '),
        description: input.description ?? null,
        // Standard Webhooks: `whsec_` and the base64 of 24 random bytes (192 bits).
        secret: `whsec_${randomBytes(24).toString('base64')}`,
        created_at: now,
      }
      // Count and insert in one transaction. On PostgreSQL (read committed) two creations racing
      // could both pass the count: the limit is a guard against runaway scripts, not an invariant.
      await db.transaction().execute(async (trx) => {
        const { count } = await trx
          .selectFrom('webhook_endpoints')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('owner_id', '=', ownerId)
          .executeTakeFirstOrThrow()
        if (Number(count) >= settings.maxEndpoints)
          throw new AppError(
            'WEBHOOK_LIMIT_EXCEEDED',
            `An owner may have at most ${settings.maxEndpoints} webhook endpoints`,
          )
        await trx.insertInto('webhook_endpoints').values(row).execute()
      })
      return { ...toEndpoint(row), secret: row.secret }
    },

    async list(ownerId: string): Promise<WebhookEndpoint[]> {
      const rows = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('owner_id', '=', ownerId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map(toEndpoint)
    },

    async get(ownerId: string, id: string): Promise<WebhookEndpoint> {
      return toEndpoint(await owned(ownerId, id))
    },

    /** Removes the endpoint and its deliveries: nothing more is sent to it. */
    async delete(ownerId: string, id: string): Promise<void> {
      await owned(ownerId, id)
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute()
        await trx
          .deleteFrom('webhook_endpoints')
          .where('id', '=', id)
          .where('owner_id', '=', ownerId)
          .execute()
      })
    },

    /** The most recent deliveries first. */
    async deliveries(ownerId: string, id: string, limit: number): Promise<DeliveryView[]> {
      await owned(ownerId, id)
      const rows = await db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('endpoint_id', '=', id)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute()
      return rows.map(toDeliveryView)
    },

    /** A dead delivery gets a fresh round of attempts, starting now. */
    async redrive(
      ownerId: string,
      id: string,
      deliveryId: string,
      now = Date.now(),
    ): Promise<DeliveryView> {
      await owned(ownerId, id)
      const row = await db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('id', '=', deliveryId)
        .where('endpoint_id', '=', id)
        .executeTakeFirst()
      if (!row)
        throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND', `No delivery ${deliveryId} of ${id}`)
      const updated = await db
        .updateTable('webhook_deliveries')
        .set({ state: 'pending', attempts: 0, next_attempt_at: now, updated_at: now })
        .where('id', '=', deliveryId)
        .where('state', '=', 'dead')
        .executeTakeFirst()
      if (Number(updated.numUpdatedRows) !== 1)
        throw new AppError(
          'WEBHOOK_DELIVERY_NOT_DEAD',
          `Delivery ${deliveryId} is ${row.state}; only a dead delivery can be retried`,
        )
      return toDeliveryView({
        ...row,
        state: 'pending',
        attempts: 0,
        next_attempt_at: now,
        updated_at: now,
      })
    },
  }
}

export type WebhookEndpoints = ReturnType<typeof createWebhookEndpoints>

function normaliseEvents(events: readonly ImageEventType[] | undefined): ImageEventType[] {
  if (!events || events.length === 0) return [...IMAGE_EVENT_TYPES]
  return IMAGE_EVENT_TYPES.filter((type) => events.includes(type))
}

function toEndpoint(row: Selectable<WebhookTables['webhook_endpoints']>): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: row.events.split(' ').filter(Boolean) as ImageEventType[],
    description: row.description,
    createdAt: Number(row.created_at),
  }
}

function toDeliveryView(row: Selectable<WebhookTables['webhook_deliveries']>): DeliveryView {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.event_type,
    state: row.state,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.state === 'pending' ? row.next_attempt_at : null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}
