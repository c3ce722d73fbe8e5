import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { DEFAULT_SCOPES, type Principal, parseScopes, type Scope } from './principal.js'
import type { AuthTables } from './tables.js'

export interface KeyInfo {
  id: string
  ownerId: string
  scopes: Scope[]
  createdAt: number
  revokedAt: number | null
}

/**
 * API keys: `pf_<id>_<secret>`. Only a SHA-256 of the secret is stored. A slow hash (bcrypt,
 * argon2) protects low-entropy passwords; these secrets are 256 random bits, so a fast hash is
 * as safe and keeps per-request verification cheap.
 */
export function createApiKeys(db: Kysely<AuthTables>) {
  async function create(
    ownerId: string,
    scopes: readonly Scope[] = DEFAULT_SCOPES,
    now = Date.now(),
  ) {
    if (!ownerId || ownerId.length > 255)
      throw new Error('An owner id of 1 to 255 characters is required')
    if (scopes.length === 0) throw new Error(`At least one scope is required`)
    const id = newKeyId()
    const secret = randomBytes(32).toString('base64url')
    const row = {
      id,
      owner_id: ownerId,
      secret_hash: digest(secret),
      scopes: scopes.join(' '),
      created_at: now,
      revoked_at: null,
    }
    await db.insertInto('api_keys').values(row).execute()
    return { id, key: `pf_${id}_${secret}` }
  }

  return {
    create,

    async list(ownerId?: string): Promise<KeyInfo[]> {
      let query = db.selectFrom('api_keys').selectAll()
      if (ownerId) query = query.where('owner_id', '=', ownerId)
      const rows = await query.orderBy('created_at').execute()
      return rows.map((r) => ({
        id: r.id,
        ownerId: r.owner_id,
        scopes: parseScopes(r.scopes),
        createdAt: Number(r.created_at),
        revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
      }))
    },

    /**
     * Stops a key at once, even one still in a rotation's grace period (revoke always wins: a key
     * that leaked must not live on for the rest of the grace). Returns false for an unknown key or
     * one that has already stopped.
     */
    async revoke(id: string, now = Date.now()): Promise<boolean> {
      const result = await db
        .updateTable('api_keys')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('revoked_at', 'is', null), eb('revoked_at', '>', now)]))
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },

    /** A new key with the same owner and scopes; the old one keeps working for `graceMs`, so clients can switch. */
    async rotate(
      id: string,
      graceMs: number,
      now = Date.now(),
    ): Promise<{ id: string; key: string } | null> {
      // NaN would be stored as NULL, which means "never revoked": the old key would live forever.
      if (!Number.isSafeInteger(graceMs) || graceMs < 0)
        throw new Error(
          `The grace period must be a whole number of milliseconds ≥ 0, not ${graceMs}`,
        )
      const old = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      if (!old) return null
      const fresh = await create(old.owner_id, parseScopes(old.scopes), now)
      await db
        .updateTable('api_keys')
        .set({ revoked_at: now + graceMs })
        .where('id', '=', id)
        .execute()
      return fresh
    },

    async verify(key: string, now = Date.now()): Promise<Principal | null> {
      const match = /^pf_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(key)
      if (!match) return null
      const [, id, secret] = match as unknown as [string, string, string]
      const row = await db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst()
      if (!row || (row.revoked_at !== null && Number(row.revoked_at) <= now)) return null
      const equal = timingSafeEqual(
        Buffer.from(row.secret_hash, 'hex'),
        Buffer.from(digest(secret), 'hex'),
      )
      return equal
        ? { ownerId: row.owner_id, scopes: parseScopes(row.scopes), via: 'api-key', keyId: row.id }
        : null
    },
  }
}

export type ApiKeys = ReturnType<typeof createApiKeys>

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

/**
 * 12 base64url characters, never starting with '-': a key id is typed after `pixelflow keys
 * revoke|rotate`, where a leading '-' would be read as an option (1 id in 64 did).
 */
function newKeyId(): string {
  for (;;) {
    const id = randomBytes(9).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}
