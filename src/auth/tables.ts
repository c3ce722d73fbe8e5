import type { Kysely, Migration } from 'kysely'

/**
 * The auth tables of the control database: API keys (stored as SHA-256 hashes), settings (the
 * URL-signing key generated on first start) and browser sessions. Times are epoch milliseconds.
 */
export interface AuthTables {
  api_keys: {
    id: string
    owner_id: string
    secret_hash: string
    scopes: string
    created_at: number
    /** When the key stops working; in the future during a rotation's grace period. */
    revoked_at: number | null
  }
  settings: { key: string; value: string }
  /** Browser sessions (src/auth/sessions.ts): only a SHA-256 of the cookie's token is stored. */
  sessions: {
    id: string
    owner_id: string
    scopes: string
    via: string
    key_id: string | null
    csrf_token: string
    created_at: number
    expires_at: number
  }
}

/**
 * Append-only. The control database's migrations are one list ordered by name, shared with the
 * directory's (`metadata/control-db.ts`): a new one takes the next free number of that list.
 */
export const AUTH_MIGRATIONS: Record<string, Migration> = {
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
      await db.schema
        .alterTable('api_keys')
        .addColumn('scopes', 'varchar(255)', (c) =>
          c.notNull().defaultTo('images:read images:write'),
        )
        .execute()
      await db.schema.createIndex('api_keys_owner').on('api_keys').column('owner_id').execute()
      await db.schema
        .createTable('settings')
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute()
    },
  },
  '0008-sessions': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('scopes', 'varchar(255)', (c) => c.notNull())
        .addColumn('via', 'varchar(16)', (c) => c.notNull())
        .addColumn('key_id', 'varchar(32)')
        .addColumn('csrf_token', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute()
    },
  },
}
