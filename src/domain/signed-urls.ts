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

/**
 * Transform URLs (`/t/<signature>/<options>/<id>`, docs/delivery.md): an HMAC over the canonical
 * path, with the same keys as private URLs but under its own context string, so a transform
 * signature can never be replayed as a private URL's `sig` or the reverse (the private MAC's
 * input starts with `v1\nGET\n`, this one with `pixelflow-transform-v1\n`, and the lengths differ).
 * The URL carries no key id: verification tries each key, and there are only a few.
 */
export function createTransformSigner(keys: readonly SigningKey[]) {
  if (keys.length === 0) throw new Error('At least one URL signing key is required')
  return {
    sign: (canonicalPath: string): string => transformMac(keys[0]!.secret, canonicalPath),
    verify(canonicalPath: string, signature: string): boolean {
      const given = Buffer.from(signature)
      return keys.some((key) => {
        const expected = Buffer.from(transformMac(key.secret, canonicalPath))
        return given.length === expected.length && timingSafeEqual(given, expected)
      })
    },
    /** Every key's signature: the purger rebuilds each URL a cache may hold. */
    signAll: (canonicalPath: string): string[] =>
      keys.map((key) => transformMac(key.secret, canonicalPath)),
  }
}

export type TransformSigner = ReturnType<typeof createTransformSigner>

/** 32 base64url characters (192 bits) keep the URL short; a forgery still needs 2^192 tries. */
const TRANSFORM_SIGNATURE_LENGTH = 32

function transformMac(secret: string, canonicalPath: string): string {
  return createHmac('sha256', secret)
    .update(`pixelflow-transform-v1\n${canonicalPath}`)
    .digest('base64url')
    .slice(0, TRANSFORM_SIGNATURE_LENGTH)
}
