import { createHmac, timingSafeEqual } from 'node:crypto'

export interface SigningKey {
  kid: string
  secret: string
}

export type SignatureCheck = 'valid' | 'invalid' | 'expired'

/** Query parameters of a signed URL: expiry (unix seconds), key id, signature. */
export interface SignedQuery {
  exp?: string
  kid?: string
  sig?: string
}

/**
 * HMAC-SHA256 signed URLs for private images (the imgproxy/S3 shape): the signature covers a
 * version tag, the method, the path and the expiry, so neither the path nor the expiry can be
 * changed. The first key signs; every key verifies, so a new key can be rolled out before the
 * old one is dropped.
 */
export function createUrlSigner(keys: readonly SigningKey[], ttlSeconds: number) {
  if (keys.length === 0) throw new Error('At least one URL signing key is required')
  const byKid = new Map(keys.map((k) => [k.kid, k.secret]))
  const signer = keys[0]!

  return {
    sign(path: string, nowMs = Date.now()): string {
      const exp = Math.floor(nowMs / 1000) + ttlSeconds
      const sig = mac(signer.secret, path, exp)
      return `${path}?exp=${exp}&kid=${encodeURIComponent(signer.kid)}&sig=${sig}`
    },

    verify(path: string, query: SignedQuery, nowMs = Date.now()): SignatureCheck {
      const secret = query.kid === undefined ? undefined : byKid.get(query.kid)
      const exp = Number(query.exp)
      if (!secret || !query.sig || !Number.isSafeInteger(exp)) return 'invalid'
      const expected = Buffer.from(mac(secret, path, exp))
      const given = Buffer.from(query.sig)
      // Length first: timingSafeEqual throws on unequal lengths.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid'
      return exp * 1000 < nowMs ? 'expired' : 'valid'
    },

    /** Seconds until a verified URL expires: the longest a cache may keep the response. */
    remainingSeconds(query: SignedQuery, nowMs = Date.now()): number {
      return Math.max(0, Number(query.exp) - Math.floor(nowMs / 1000))
    },
  }
}

export type UrlSigner = ReturnType<typeof createUrlSigner>

function mac(secret: string, path: string, exp: number): string {
  return createHmac('sha256', secret).update(`v1\nGET\n${path}\n${exp}`).digest('base64url')
}
