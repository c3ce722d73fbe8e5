import type { Generated, Kysely, Migration } from 'kysely'
import { serial, serialType } from '../db/database.js'

/**
 * The audit module's table in the control database. One row per admin action that changed
 * something. `seq` orders the rows (newest first is `seq` descending, and the page cursor);
 * `at` is epoch milliseconds; `detail` is a small JSON object that never holds a secret.
 */
export interface AuditTables {
  audit_log: {
    seq: Generated<number>
    at: number
    actor_owner_id: string
    actor_key_id: string | null
    actor_via: string
    action: string
    target: string
    detail: string
    request_id: string
  }
}

/** Append-only; 0007 is this module's number in the control database's one sequence. */
export const AUDIT_MIGRATIONS: Record<string, Migration> = {
  '0007-audit-log': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', serialType(db), (c) => serial(db, c.primaryKey()))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor_owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('actor_key_id', 'varchar(32)')
        .addColumn('actor_via', 'varchar(16)', (c) => c.notNull())
        .addColumn('action', 'varchar(64)', (c) => c.notNull())
        .addColumn('target', 'varchar(255)', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('request_id', 'varchar(128)', (c) => c.notNull())
        .execute()
    },
  },
}
