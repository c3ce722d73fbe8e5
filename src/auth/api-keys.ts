import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'

export interface ControlDb {
  api_keys: {
    id: string
    owner_id: string
    secret_hash: string
    created_at: number
    revoked_at: number | null
  }
}

export interface Principal {
  ownerId: string
  keyId: string
}

/**
 * API keys: `pf_<id>_<secret>`. Only a SHA-256 of the secret is stored. A slow hash (bcrypt,
 * argon2) protects low-entropy passwords; these secrets are 256 random bits, so a fast hash is
 * as safe and keeps per-request verification cheap.
 */
export function createApiKeys(db: Kysely<ControlDb>) {
  return {
    async create(ownerId: string, now = Date.now()): Promise<{ id: string; key: string }> {
      if (!ownerId || ownerId.length > 255) throw new Error('An owner id of 1 to 255 characters is required')
      const id = randomBytes(9).toString('base64url')
      const secret = randomBytes(32).toString('base64url')
      await db.insertInto('api_keys').values({ id, owner_id: ownerId, secret_hash: digest(secret), created_at: now, revoked_at: null }).execute()
      return { id, key: `pf_${id}_${secret}` }
    },

    async verify(key: string): Promise<Principal | null> {
      const match = /^pf_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(key)
      if (!match) return null
      const [, id, secret] = match as unknown as [string, string, string]
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst()
      if (!row || row.revoked_at !== null) return null
      const equal = timingSafeEqual(Buffer.from(row.secret_hash, 'hex'), Buffer.from(digest(secret), 'hex'))
      return equal ? { ownerId: row.owner_id, keyId: row.id } : null
    },
  }
}

export type ApiKeys = ReturnType<typeof createApiKeys>

function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}
