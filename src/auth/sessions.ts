import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { AppError } from '../errors/index.js'
import { digest } from './api-keys.js'
import { type Principal, parseScopes } from './principal.js'
import type { AuthTables } from './tables.js'

/** What the browser is given: the cookie's token, and the CSRF token its page sends back in a header. */
export interface OpenedSession {
  token: string
  csrfToken: string
  expiresAt: number
}

/** A verified session: who it acts for, and the CSRF token its unsafe requests must carry. */
export interface SessionInfo {
  principal: Principal
  csrfToken: string
  expiresAt: number
}

export interface SessionOptions {
  ttlMs: number
  /** Whether the API key a session was opened with still works (a revoke ends its sessions too). */
  keyIsLive: (keyId: string, now: number) => Promise<boolean>
}

/**
 * Short-lived browser sessions, opened by exchanging an API key or a JWT, so the page never keeps
 * the credential itself. The cookie carries 256 random bits; only their SHA-256 is stored, like an
 * API key's secret. Rows live in the control database, so every API process sees a sign-out at once.
 */
export function createSessions(db: Kysely<AuthTables>, options: SessionOptions) {
  return {
    async open(principal: Principal, now = Date.now()): Promise<OpenedSession> {
      // An upload token grants one narrow upload; a session from it would outlive its bounds.
      if (principal.via === 'upload-token')
        throw new AppError('INSUFFICIENT_SCOPE', 'An upload token cannot open a session')
      // Expired rows go as new ones come: the table stays as small as the live sessions.
      await db.deleteFrom('sessions').where('expires_at', '<=', now).execute()
      const token = randomBytes(32).toString('base64url')
      const csrfToken = randomBytes(32).toString('base64url')
      // Never longer than the credential: a JWT with a minute left makes a session of a minute.
      const expiresAt = Math.min(
        now + options.ttlMs,
        principal.expiresAt ?? Number.POSITIVE_INFINITY,
      )
      await db
        .insertInto('sessions')
        .values({
          id: digest(token),
          owner_id: principal.ownerId,
          scopes: principal.scopes.join(' '),
          via: principal.via,
          key_id: principal.keyId ?? null,
          csrf_token: csrfToken,
          created_at: now,
          expires_at: expiresAt,
        })
        .execute()
      return { token, csrfToken, expiresAt }
    },

    /** The session of a cookie's token; null when unknown, expired, or its API key was revoked. */
    async verify(token: string, now = Date.now()): Promise<SessionInfo | null> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null
      const row = await db
        .selectFrom('sessions')
        .selectAll()
        .where('id', '=', digest(token))
        .executeTakeFirst()
      if (!row || Number(row.expires_at) <= now) return null
      if (row.key_id && !(await options.keyIsLive(row.key_id, now))) return null
      const principal: Principal = {
        ownerId: row.owner_id,
        scopes: parseScopes(row.scopes),
        via: row.via as Principal['via'],
        ...(row.key_id ? { keyId: row.key_id } : {}),
        ...(row.via === 'jwt' ? { expiresAt: Number(row.expires_at) } : {}),
      }
      return { principal, csrfToken: row.csrf_token, expiresAt: Number(row.expires_at) }
    },

    /** Sign-out: the row goes, so the cookie stops working in every process at once. */
    async close(token: string): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', digest(token)).execute()
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>

/** Compares in constant time: a header guessed one character at a time must learn nothing. */
export function csrfTokenMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}
