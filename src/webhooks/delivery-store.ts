import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { WebhookTables } from './tables.js'

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery {
  id: string
  payload: string
  attempts: number
  leaseToken: string
  url: string
  secret: string
}

export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'failed'; status: number | null; error: string; permanent: boolean }

type Db = Kysely<WebhookTables>

/**
 * Claims up to `limit` due deliveries for `leaseMs`. The UPDATE re-checks the state and lease on
 * each row it picked, so of two processes that picked the same rows only one takes each
 * (PostgreSQL re-evaluates the WHERE of a row another transaction just changed; SQLite has one
 * writer at a time). Deliveries
 * whose endpoint was deleted meanwhile are dropped here.
 */
export async function claimDue(
  db: Db,
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const token = randomUUID()
  // A read first: an idle relay polls often and should not take the write lock each time.
  const due = await db
    .selectFrom('webhook_deliveries')
    .select('id')
    .where('state', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute()
  if (due.length === 0) return []
  await db
    .updateTable('webhook_deliveries')
    .set({ lease_token: token, lease_until: now + leaseMs })
    .where(
      'id',
      'in',
      due.map((row) => row.id),
    )
    .where('state', '=', 'pending')
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
    .execute()
  const rows = await db
    .selectFrom('webhook_deliveries as d')
    .leftJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
    .select(['d.id', 'd.payload', 'd.attempts', 'e.url', 'e.secret'])
    .where('d.lease_token', '=', token)
    .execute()
  const orphans = rows.filter((row) => row.url === null).map((row) => row.id)
  if (orphans.length > 0)
    await db.deleteFrom('webhook_deliveries').where('id', 'in', orphans).execute()
  return rows.flatMap((row) =>
    row.url === null || row.secret === null
      ? []
      : [
          {
            id: row.id,
            payload: row.payload,
            attempts: row.attempts,
            leaseToken: token,
            url: row.url,
            secret: row.secret,
          },
        ],
  )
}

/**
 * Records one attempt's outcome, only while this process still holds the lease. A failure waits
 * `retryInMs` before the next attempt, or makes the delivery dead once `maxAttempts` are spent or
 * the failure is permanent (the URL is now forbidden).
 */
export async function recordAttempt(
  db: Db,
  delivery: ClaimedDelivery,
  outcome: AttemptOutcome,
  settings: { now: number; maxAttempts: number; retryInMs: number },
): Promise<'delivered' | 'pending' | 'dead'> {
  const attempts = delivery.attempts + 1
  const state =
    outcome.kind === 'delivered'
      ? 'delivered'
      : outcome.permanent || attempts >= settings.maxAttempts
        ? 'dead'
        : 'pending'
  await db
    .updateTable('webhook_deliveries')
    .set({
      state,
      attempts,
      last_status: outcome.status,
      last_error: outcome.kind === 'failed' ? outcome.error.slice(0, 500) : null,
      next_attempt_at: state === 'pending' ? settings.now + settings.retryInMs : null,
      lease_token: null,
      lease_until: null,
      updated_at: settings.now,
    })
    .where('id', '=', delivery.id)
    .where('lease_token', '=', delivery.leaseToken)
    .execute()
  return state
}

/** Removes finished deliveries (delivered or dead) last touched before `before`. */
export async function pruneFinished(db: Db, before: number): Promise<number> {
  const result = await db
    .deleteFrom('webhook_deliveries')
    .where('state', 'in', ['delivered', 'dead'])
    .where('updated_at', '<', before)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
