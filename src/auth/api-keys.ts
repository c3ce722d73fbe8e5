import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { LRUCache } from 'lru-cache'
import { DEFAULT_SCOPES, type Principal, parseScopes, type Scope } from './principal.js'
import type { AuthTables } from './tables.js'

type KeyRow = Selectable<AuthTables['api_keys']>

/** A key's row as reused for `rowTtlMs`, with what verifying against it has already worked out. */
interface CachedKey {
  row: KeyRow
  /** The row as a principal, made once per read of the row and shared by every request with it. */
  principal: Principal
  /**
   * The secret that last matched the row's hash: the next request that presents it is compared
   * with it (in constant time) instead of hashing again, about a fifth of what authenticating a
   * request costs. It lives as long as the row's reuse (a second by default), never longer.
   */
  verified: Buffer | null
}

export interface ApiKeyOptions {
  /**
   * How long a key's row read by `verify` is reused (default 1 s): the control database is read
   * once per key and second instead of on every request. It bounds how late another process sees
   * a revoke; this process's own revoke and rotate apply at once.
   */
  rowTtlMs?: number
  /** The clock of that reuse, in ms from any origin; tests move a fake one. */
  clock?: () => number
}

/** A rotation's grace period is for clients to switch keys: a day by default, at most 30. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400
export const MAX_ROTATION_GRACE_SECONDS = 30 * 86_400

export interface KeyInfo {
  id: string
  ownerId: string
  scopes: Scope[]
  createdAt: number
  revokedAt: number | null
  /** Works now: never revoked, or still in a rotation's grace period. */
  active: boolean
}

/**
 * API keys: `pf_<id>_<secret>`. Only a SHA-256 of the secret is stored. A slow hash (bcrypt,
 * argon2) protects low-entropy passwords; these secrets are 256 random bits, so a fast hash is
 * as safe and keeps per-request verification cheap.
 */
export function createApiKeys(db: Kysely<AuthTables>, options: ApiKeyOptions = {}) {
  const recent = new LRUCache<string, CachedKey>({
    max: 10_000,
    ttl: options.rowTtlMs ?? 1000,
    ...(options.clock ? { perf: { now: options.clock }, ttlResolution: 0 } : {}),
  })

  /** Revokes now the matching keys not yet stopped, those in a grace period too; how many. */
  async function stop(column: 'id' | 'owner_id', value: string, now: number): Promise<number> {
    const result = await db
      .updateTable('api_keys')
      .set({ revoked_at: now })
      .where(column, '=', value)
      .where((eb) => eb.or([eb('revoked_at', 'is', null), eb('revoked_at', '>', now)]))
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  async function keyOf(id: string): Promise<CachedKey | undefined> {
    const cached = recent.get(id)
    if (cached) return cached
    const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row) return undefined
    const principal: Principal = Object.freeze({
      ownerId: row.owner_id,
      scopes: parseScopes(row.scopes),
      via: 'api-key',
      keyId: row.id,
    })
    const key = { row, principal, verified: null }
    recent.set(id, key)
    return key
  }

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

    async list(ownerId?: string, now = Date.now()): Promise<KeyInfo[]> {
      let query = db.selectFrom('api_keys').selectAll()
      if (ownerId) query = query.where('owner_id', '=', ownerId)
      const rows = await query.orderBy('created_at').execute()
      return rows.map((r) => ({
        id: r.id,
        ownerId: r.owner_id,
        scopes: parseScopes(r.scopes),
        createdAt: Number(r.created_at),
        revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
        active: works(r, now),
      }))
    },

    /**
     * Stops a key at once, even one still in a rotation's grace period (revoke always wins: a key
     * that leaked must not live on for the rest of the grace). Returns false for an unknown key or
     * one that has already stopped.
     */
    async revoke(id: string, now = Date.now()): Promise<boolean> {
      const stopped = await stop('id', id, now)
      // After the write: a verify racing it cannot put the row from before back.
      recent.delete(id)
      return stopped === 1
    },

    /**
     * Stops every key of an owner now, those in a rotation's grace period too (an erasure).
     * Returns how many were live. Forgets the reused rows, so this process refuses them at once.
     */
    async revokeOwner(ownerId: string, now = Date.now()): Promise<number> {
      const stopped = await stop('owner_id', ownerId, now)
      recent.clear()
      return stopped
    },

    /** Deletes an owner's key rows (the last step of an erasure). */
    async deleteOwner(ownerId: string): Promise<void> {
      await db.deleteFrom('api_keys').where('owner_id', '=', ownerId).execute()
      recent.clear()
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
      recent.delete(id)
      return fresh
    },

    /** Whether a key still works (a session opened with it ends when it stops): the reused row. */
    async isLive(id: string, now = Date.now()): Promise<boolean> {
      const key = await keyOf(id)
      return !!key && works(key.row, now)
    },

    /** The key's principal when it works, null when it does not. */
    async verify(key: string, now = Date.now()): Promise<Principal | null> {
      const parsed = parseKey(key)
      if (!parsed) return null
      const cached = await keyOf(parsed.id)
      return cached ? check(cached, parsed.secret, now) : null
    },

    /**
     * `verify` without I/O, for the common request: the key's principal when its row is held
     * (read less than `rowTtlMs` ago) and the key works. Anything else is undefined, and the
     * caller then calls `verify`, which reads the row or refuses the key.
     */
    verifyHeld(key: string, now = Date.now()): Principal | undefined {
      const parsed = parseKey(key)
      const cached = parsed && recent.get(parsed.id)
      return (cached && check(cached, parsed.secret, now)) ?? undefined
    },
  }
}

function parseKey(key: string): { id: string; secret: string } | null {
  const match = /^pf_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(key)
  return match ? { id: match[1]!, secret: match[2]! } : null
}

/** Whether `secret` is the key's and the key works now, against its held row. */
function check(cached: CachedKey, secret: string, now: number): Principal | null {
  if (!works(cached.row, now)) return null
  // The regex makes every secret 43 ASCII bytes: equal lengths, as timingSafeEqual needs.
  const presented = Buffer.from(secret)
  if (cached.verified && timingSafeEqual(cached.verified, presented)) return cached.principal
  const equal = timingSafeEqual(
    Buffer.from(cached.row.secret_hash, 'hex'),
    Buffer.from(digest(secret), 'hex'),
  )
  if (!equal) return null
  cached.verified = presented
  return cached.principal
}

export type ApiKeys = ReturnType<typeof createApiKeys>

/** Not revoked, or still in a rotation's grace period. */
function works(row: KeyRow, now: number): boolean {
  return row.revoked_at === null || Number(row.revoked_at) > now
}

/**
 * What is stored of a random secret (a key's, a session cookie's): its SHA-256, in hex. A slow
 * hash protects low-entropy passwords; 256 random bits need none, and stay cheap to check.
 */
export function digest(secret: string): string {
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
