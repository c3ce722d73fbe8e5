import type { Kysely, Selectable } from 'kysely'
import type { AuditTables } from './tables.js'

/** What an admin can change; each is one row when it succeeded. */
export type AuditAction =
  | 'api-key.create'
  | 'api-key.rotate'
  | 'api-key.revoke'
  | 'dead-letters.redrive'
  | 'owner.erase'

/** Who acted: the credential's owner, its key id when it was an API key, and its kind. */
export interface AuditActor {
  ownerId: string
  keyId?: string
  via: string
}

export interface AuditEntry {
  actor: AuditActor
  action: AuditAction
  /** What was acted on: a key id, an owner id, a queue. */
  target: string
  /** A few facts about the change (scopes, counts); never a secret. */
  detail: Record<string, unknown>
  requestId: string
}

export interface AuditRecord extends AuditEntry {
  /** The row's sequence number as a string; also the cursor of the next page. */
  id: string
  /** Epoch milliseconds. */
  at: number
}

export interface AuditPage {
  items: AuditRecord[]
  /** Pass back as `cursor` for older rows; null on the last page. */
  nextCursor: string | null
}

type Row = Selectable<AuditTables['audit_log']>

/** The admin audit log in the control database: append a row, read pages newest first. */
export function createAuditLog(db: Kysely<AuditTables>, clock: () => number = Date.now) {
  return {
    async record(entry: AuditEntry): Promise<void> {
      await db
        .insertInto('audit_log')
        .values({
          at: clock(),
          actor_owner_id: entry.actor.ownerId,
          actor_key_id: entry.actor.keyId ?? null,
          actor_via: entry.actor.via,
          action: entry.action,
          target: entry.target,
          detail: JSON.stringify(entry.detail),
          request_id: entry.requestId,
        })
        .execute()
    },

    /** `cursor` is a previous page's `nextCursor`: rows older than the last one it showed. */
    async list(limit: number, cursor?: string): Promise<AuditPage> {
      let query = db.selectFrom('audit_log').selectAll()
      if (cursor !== undefined) query = query.where('seq', '<', Number(cursor))
      // One row more than asked says whether another page exists without a count.
      const rows = await query
        .orderBy('seq', 'desc')
        .limit(limit + 1)
        .execute()
      const items = rows.slice(0, limit).map(recordOf)
      const last = items.at(-1)
      return { items, nextCursor: rows.length > limit && last ? last.id : null }
    },
  }
}

export type AuditLog = ReturnType<typeof createAuditLog>

function recordOf(row: Row): AuditRecord {
  return {
    id: String(row.seq),
    at: Number(row.at),
    actor: {
      ownerId: row.actor_owner_id,
      ...(row.actor_key_id === null ? {} : { keyId: row.actor_key_id }),
      via: row.actor_via,
    },
    action: row.action as AuditAction,
    target: row.target,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    requestId: row.request_id,
  }
}
