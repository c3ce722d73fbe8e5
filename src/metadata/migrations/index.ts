import { type Kysely, type Migration, sql } from 'kysely'
import { dialectOf, serial, serialType } from '../../db/database.js'

/**
 * Shard schema, append-only: never edit a migration that has shipped, add the next one.
 * Written with Kysely's schema builder so SQLite and PostgreSQL run the same list.
 */
export const SHARD_MIGRATIONS: Record<string, Migration> = {
  '0001-images': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('images')
        .addColumn('id', idType(db), (c) => c.primaryKey())
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
      await db.schema
        .createIndex('images_owner_id')
        .on('images')
        .columns(['owner_id', 'id'])
        .execute()
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
        .addColumn('seq', serialType(db), (c) => serial(db, c.primaryKey()))
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
      await db.schema
        .alterTable('images')
        .addColumn('visibility', 'varchar(16)', (c) => c.notNull().defaultTo('public'))
        .execute()
    },
  },
  '0005-bucket-ownership': {
    async up(db: Kysely<unknown>) {
      // The buckets this shard serves and their move state: every read and write checks it, so a
      // stale router is refused instead of writing where the directory no longer points.
      await db.schema
        .createTable('bucket_ownership')
        .addColumn('bucket', 'integer', (c) => c.primaryKey())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .execute()
      // Images changed in a bucket while it is being copied away: the mover's catch-up replays them.
      await db.schema
        .createTable('bucket_changes')
        .addColumn('seq', serialType(db), (c) => serial(db, c.primaryKey()))
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('image_id', 'varchar(32)', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('bucket_changes_bucket')
        .on('bucket_changes')
        .columns(['bucket', 'seq'])
        .execute()
      // Copying a bucket walks it in id order, chunk by chunk.
      await db.schema.dropIndex('images_bucket').execute()
      await db.schema
        .createIndex('images_bucket_id')
        .on('images')
        .columns(['bucket', 'id'])
        .execute()
    },
  },
  '0006-reconcile': {
    async up(db: Kysely<unknown>) {
      // How often the reconciler re-enqueued a stuck image: bounded, then the image fails.
      await db.schema
        .alterTable('images')
        .addColumn('requeues', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
      // The sweep's scan: unfinished images by age, without reading the finished majority.
      await db.schema
        .createIndex('images_status_updated')
        .on('images')
        .columns(['status', 'updated_at'])
        .execute()
    },
  },
  '0007-events': {
    async up(db: Kysely<unknown>) {
      // The event outbox: one row per change an owner can watch (image.ready, .failed, .deleted),
      // written in the change's transaction, read by seq (shard-events.ts), pruned by age.
      await db.schema
        .createTable('events')
        .addColumn('seq', dialectOf(db) === 'postgres' ? 'bigserial' : 'integer', (c) =>
          serial(db, c.primaryKey()),
        )
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('image_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      // One owner's events after a position (the live stream).
      await db.schema
        .createIndex('events_owner_seq')
        .on('events')
        .columns(['owner_id', 'seq'])
        .execute()
      // Pruning by age.
      await db.schema.createIndex('events_created').on('events').column('created_at').execute()
    },
  },
  '0008-placeholder-kind-dominant-color': {
    async up(db: Kysely<unknown>) {
      // The placeholder's kind beside its value (the setting may change between images); rows
      // from before keep null and are read by the value's shape (metadata/placeholder-kind.ts).
      await db.schema.alterTable('images').addColumn('placeholder_type', 'varchar(16)').execute()
      await db.schema.alterTable('images').addColumn('dominant_color', 'varchar(7)').execute()
      // Content dedupe: an owner's earlier image with the same bytes. Not unique: a failed image
      // may be uploaded again, and the same bytes may exist as public and as private.
      await db.schema
        .createIndex('images_owner_sha256')
        .on('images')
        .columns(['owner_id', 'sha256'])
        .execute()
    },
  },
  '0009-focal-point': {
    async up(db: Kysely<unknown>) {
      // The owner's focal point for crops; rows from before have none (null: the centre).
      await db.schema.alterTable('images').addColumn('focal_x', 'real').execute()
      await db.schema.alterTable('images').addColumn('focal_y', 'real').execute()
    },
  },
  '0010-variant-version': {
    async up(db: Kysely<unknown>) {
      // The preset's version in the variant's key and URL (imaging/preset-version.ts); rows from
      // before keep null and their unversioned URLs until `pixelflow images reprocess`.
      await db.schema.alterTable('variants').addColumn('version', 'varchar(16)').execute()
    },
  },
  '0011-dedupe-index-with-id': {
    async up(db: Kysely<unknown>) {
      // The dedupe lookup takes the oldest match (order by id). With (owner_id, sha256) only,
      // SQLite chose (owner_id, id) to skip the sort and read all the owner's images on every
      // upload; with id in this index one seek answers it (shard-dedupe.ts).
      await db.schema
        .createIndex('images_owner_sha256_id')
        .on('images')
        .columns(['owner_id', 'sha256', 'id'])
        .execute()
      await db.schema.dropIndex('images_owner_sha256').execute()
    },
  },
}

/**
 * Ids sort by time, and listings (one owner's and the cross-shard merge) page by id: PostgreSQL
 * must compare them bytewise, as SQLite and JavaScript do, whatever the database's locale.
 */
function idType(db: Kysely<unknown>) {
  return dialectOf(db) === 'postgres' ? sql`varchar(32) collate "C"` : 'varchar(32)'
}
