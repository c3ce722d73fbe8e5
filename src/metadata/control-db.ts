import type { Kysely, Migration } from 'kysely'

/**
 * The directory's tables in the control database (not sharded): the shard registry, the bucket
 * directory with its epoch, owner placements and bucket moves. The control database also holds
 * the auth tables (`auth/tables.ts`); the composition root opens it with both. A SQLite file when
 * embedded, a PostgreSQL database at scale. Times are epoch milliseconds.
 */
export interface DirectoryDb {
  shards: { id: number; url: string; created_at: number }
  bucket_directory: { bucket: number; shard_id: number }
  /** One row (id 1): the directory's epoch, bumped by every switch, and the owner strategy (JSON). */
  directory_meta: { id: number; epoch: number; strategy: string }
  owner_placements: { owner_id: string; bucket: number }
  bucket_moves: BucketMoveRow
  /** Named leases: one holder at a time (the bucket mover's), until `expires_at` unless renewed. */
  leases: { name: string; holder: string; expires_at: number }
}

export type MovePhase =
  | 'capture'
  | 'copy'
  | 'catchup'
  | 'fence'
  | 'verify'
  | 'switch'
  | 'cleanup'
  | 'done'
  | 'failed'

export interface BucketMoveRow {
  bucket: number
  source: number
  target: number
  /** The next step to run: a mover restarted after a crash resumes here. */
  phase: MovePhase
  copy_cursor: string | null
  rows_copied: number
  changes_applied: number
  started_at: number
  updated_at: number
  fenced_at: number | null
  detail: string | null
}

/** Append-only; numbered in one sequence with AUTH_MIGRATIONS (the control database's one list). */
export const DIRECTORY_MIGRATIONS: Record<string, Migration> = {
  '0003-directory': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('shards')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      // bucket → shard; every change bumps directory_meta.epoch in the same transaction.
      await db.schema
        .createTable('bucket_directory')
        .addColumn('bucket', 'integer', (c) => c.primaryKey())
        .addColumn('shard_id', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('directory_meta')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('epoch', 'bigint', (c) => c.notNull())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('owner_placements')
        .addColumn('owner_id', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('bucket', 'integer', (c) => c.notNull())
        .execute()
      // One row per bucket move; the phase is the step to run next, so a restarted mover resumes there.
      await db.schema
        .createTable('bucket_moves')
        .addColumn('bucket', 'integer', (c) => c.primaryKey())
        .addColumn('source', 'integer', (c) => c.notNull())
        .addColumn('target', 'integer', (c) => c.notNull())
        .addColumn('phase', 'varchar(16)', (c) => c.notNull())
        .addColumn('copy_cursor', 'varchar(32)')
        .addColumn('rows_copied', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('changes_applied', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('fenced_at', 'bigint')
        .addColumn('detail', 'text')
        .execute()
    },
  },
  // One rebalance or move at a time: the mover holds the 'shard-mover' lease while it runs.
  '0004-leases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('leases')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('holder', 'varchar(255)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  },
}
