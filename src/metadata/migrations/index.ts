import type { Kysely, Migration } from 'kysely'

/**
 * Shard schema, append-only: never edit a migration that has shipped, add the next one.
 * Written with Kysely's schema builder so SQLite and PostgreSQL run the same list.
 */
export const SHARD_MIGRATIONS: Record<string, Migration> = {
  '0001-images': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('images')
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('format', 'varchar(16)', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('frames', 'integer', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('idempotency_key', 'varchar(255)')
        .addColumn('placeholder', 'text')
        .addColumn('failure_code', 'varchar(64)')
        .addColumn('failure_detail', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      // Newest-first listing per owner: ids are time-sortable, so (owner_id, id) is the order.
      await db.schema.createIndex('images_owner_id').on('images').columns(['owner_id', 'id']).execute()
      await db.schema
        .createIndex('images_owner_idempotency')
        .on('images')
        .columns(['owner_id', 'idempotency_key'])
        .unique()
        .execute()
      await db.schema.createIndex('images_bucket').on('images').column('bucket').execute()
    },
  },
  '0002-variants': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('variants')
        .addColumn('image_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('name', 'varchar(32)', (c) => c.notNull())
        .addColumn('format', 'varchar(16)', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('etag', 'varchar(80)', (c) => c.notNull())
        .addColumn('object_key', 'varchar(255)', (c) => c.notNull())
        .addPrimaryKeyConstraint('variants_pk', ['image_id', 'name', 'format'])
        .execute()
    },
  },
  '0003-outbox': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('outbox')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('shard_meta')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute()
    },
  },
  '0004-visibility': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('images').addColumn('visibility', 'varchar(16)', (c) => c.notNull().defaultTo('public')).execute()
    },
  },
}

/** Control database (not sharded): API keys, settings, later the bucket directory. */
export const CONTROL_MIGRATIONS: Record<string, Migration> = {
  '0001-api-keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('secret_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute()
    },
  },
  '0002-key-scopes-and-settings': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_keys').addColumn('scopes', 'varchar(255)', (c) => c.notNull().defaultTo('images:read images:write')).execute()
      await db.schema.createIndex('api_keys_owner').on('api_keys').column('owner_id').execute()
      await db.schema
        .createTable('settings')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute()
    },
  },
}
