import type { Kysely, Migration } from 'kysely'

/**
 * The webhooks module's tables in the control database. Times are epoch milliseconds.
 *  - webhook_endpoints: an owner's receivers. `secret` is kept as given to the owner (signing
 *    needs it); `events` is a space-separated list of event types.
 *  - webhook_cursors: per shard, the last event seq fanned out into deliveries.
 *  - webhook_deliveries: one event for one endpoint, from fan-out to `delivered` or `dead`. Its id
 *    is the `webhook-id` header, the same on every attempt. A relay process holds `lease_token`
 *    until `lease_until` while it sends an attempt, so each attempt is sent by one process.
 */
export interface WebhookTables {
  webhook_endpoints: {
    id: string
    owner_id: string
    url: string
    events: string
    description: string | null
    secret: string
    created_at: number
  }
  webhook_cursors: { shard_id: number; seq: number }
  webhook_deliveries: {
    id: string
    endpoint_id: string
    owner_id: string
    event_id: string
    event_type: string
    /** The JSON body, rendered once at fan-out, so every attempt sends the same bytes. */
    payload: string
    state: 'pending' | 'delivered' | 'dead'
    /** Attempts since the delivery was created or last redriven. */
    attempts: number
    next_attempt_at: number | null
    lease_token: string | null
    lease_until: number | null
    last_status: number | null
    last_error: string | null
    created_at: number
    updated_at: number
  }
}

/**
 * Append-only. Names continue the control database's one sequence (src/start/control-db.ts
 * merges every module's list).
 */
export const WEBHOOK_MIGRATIONS: Record<string, Migration> = {
  '0005-webhooks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('events', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'varchar(500)')
        .addColumn('secret', 'varchar(100)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('webhook_endpoints_owner')
        .on('webhook_endpoints')
        .columns(['owner_id', 'created_at'])
        .execute()
      await db.schema
        .createTable('webhook_cursors')
        .addColumn('shard_id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('endpoint_id', 'varchar(40)', (c) => c.notNull())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('event_type', 'varchar(64)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('lease_token', 'varchar(40)')
        .addColumn('lease_until', 'bigint')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        // One delivery per event and endpoint, however often the fan-out runs.
        .addUniqueConstraint('webhook_deliveries_event', ['endpoint_id', 'event_id'])
        .execute()
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['state', 'next_attempt_at'])
        .execute()
      await db.schema
        .createIndex('webhook_deliveries_endpoint')
        .on('webhook_deliveries')
        .columns(['endpoint_id', 'created_at'])
        .execute()
    },
  },
}
