import type { Kysely, Migration } from 'kysely'

/**
 * The uploads module's tables in the control database. Times are epoch milliseconds.
 *  - upload_tokens: one row per minted upload token, holding its durable use count, so that
 *    `maxUploads` holds across processes and restarts (the token itself is stateless).
 *  - direct_uploads: a presigned direct-to-S3 upload from its announcement to its completion;
 *    `image_id` is set once completed, so a second completion returns the same image.
 */
export interface UploadTables {
  upload_tokens: {
    id: string
    owner_id: string
    /** null: no count limit. */
    max_uploads: number | null
    used: number
    expires_at: number
  }
  direct_uploads: {
    id: string
    owner_id: string
    content_type: string
    bytes: number
    visibility: string
    idempotency_key: string | null
    /** The upload token it was announced with, whose use goes back if the bytes are refused. */
    token_id: string | null
    created_at: number
    expires_at: number
    image_id: string | null
  }
}

/**
 * Append-only. Names continue the control database's one sequence (src/start/control-db.ts
 * merges every module's list).
 */
export const UPLOAD_MIGRATIONS: Record<string, Migration> = {
  '0006-uploads': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('upload_tokens')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('max_uploads', 'integer')
        .addColumn('used', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('upload_tokens_expires')
        .on('upload_tokens')
        .column('expires_at')
        .execute()
      await db.schema
        .createTable('direct_uploads')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('owner_id', 'varchar(255)', (c) => c.notNull())
        .addColumn('content_type', 'varchar(100)', (c) => c.notNull())
        .addColumn('bytes', 'bigint', (c) => c.notNull())
        .addColumn('visibility', 'varchar(16)', (c) => c.notNull())
        .addColumn('idempotency_key', 'varchar(255)')
        .addColumn('token_id', 'varchar(64)')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('image_id', 'varchar(64)')
        .execute()
      await db.schema
        .createIndex('direct_uploads_expires')
        .on('direct_uploads')
        .column('expires_at')
        .execute()
    },
  },
}
