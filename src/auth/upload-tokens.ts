import { hkdfSync, randomUUID } from 'node:crypto'
import { errors, type JWTPayload, jwtVerify, SignJWT } from 'jose'
import type { SigningKey } from '../domain/signed-urls.js'
import { AppError } from '../errors/index.js'
import type { Principal, UploadGrant } from './principal.js'

/** Every upload token starts so: the authenticator tells it from an API key or a plain JWT. */
export const UPLOAD_TOKEN_PREFIX = 'pfu_'

/**
 * The key of an upload token is derived (HKDF) from a URL-signing key with its own context, so
 * neither kind of signature can ever be replayed as the other, and no new secret has to be
 * configured or stored: the signing keys' rotation (first signs, all verify) carries over.
 */
const CONTEXT = 'pixelflow upload-token v1'
const AUDIENCE = 'pixelflow:upload'
const TYPE = 'pixelflow-upload+jwt'

export interface MintRequest {
  ownerId: string
  expiresInSeconds: number
  maxBytes?: number | undefined
  maxUploads?: number | undefined
  visibility?: 'public' | 'private' | undefined
}

export interface MintedToken {
  token: string
  tokenId: string
  /** Epoch milliseconds. */
  expiresAt: number
}

/**
 * Short-lived upload tokens for browsers: an HS256 JWT (jose) with a unique `jti`, the owner in
 * `sub` and the bounds in a `pf` claim, prefixed `pfu_`. It authenticates as a principal whose
 * only scope is `images:upload`.
 */
export function createUploadTokens(keys: readonly SigningKey[]) {
  if (keys.length === 0) throw new Error('Upload tokens need at least one signing key')
  const derived = new Map(
    keys.map((k) => [k.kid, new Uint8Array(hkdfSync('sha256', k.secret, '', CONTEXT, 32))]),
  )
  const signer = keys[0]!.kid

  return {
    async mint(request: MintRequest, nowMs = Date.now()): Promise<MintedToken> {
      const tokenId = randomUUID()
      const iat = Math.floor(nowMs / 1000)
      const exp = iat + request.expiresInSeconds
      const bounds = {
        ...(request.maxBytes !== undefined ? { maxBytes: request.maxBytes } : {}),
        ...(request.maxUploads !== undefined ? { maxUploads: request.maxUploads } : {}),
        ...(request.visibility !== undefined ? { visibility: request.visibility } : {}),
      }
      const jwt = await new SignJWT({ pf: bounds })
        .setProtectedHeader({ alg: 'HS256', kid: signer, typ: TYPE })
        .setSubject(request.ownerId)
        .setAudience(AUDIENCE)
        .setJti(tokenId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(derived.get(signer)!)
      return { token: UPLOAD_TOKEN_PREFIX + jwt, tokenId, expiresAt: exp * 1000 }
    },

    /** The principal of a `pfu_…` credential; UNAUTHENTICATED when it is forged or expired. */
    async verify(credential: string): Promise<Principal> {
      const payload = await verified(credential.slice(UPLOAD_TOKEN_PREFIX.length), derived)
      const grant = grantOf(payload)
      return {
        ownerId: payload.sub as string,
        scopes: ['images:upload'],
        via: 'upload-token',
        upload: grant,
      }
    },
  }
}

export type UploadTokens = ReturnType<typeof createUploadTokens>

async function verified(jwt: string, keys: Map<string, Uint8Array>): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(
      jwt,
      (header) => {
        const key = header.kid === undefined ? undefined : keys.get(header.kid)
        if (!key) throw new errors.JWKSNoMatchingKey()
        return key
      },
      {
        algorithms: ['HS256'],
        audience: AUDIENCE,
        typ: TYPE,
        requiredClaims: ['exp', 'jti', 'sub'],
      },
    )
    return payload
  } catch (error) {
    const expired = error instanceof errors.JWTExpired
    throw new AppError(
      'UNAUTHENTICATED',
      expired ? 'The upload token has expired' : 'The upload token is not valid',
      { cause: error },
    )
  }
}

function grantOf(payload: JWTPayload): UploadGrant {
  const pf = (payload.pf ?? {}) as Record<string, unknown>
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined
  const visibility =
    pf.visibility === 'public' || pf.visibility === 'private' ? pf.visibility : undefined
  return {
    tokenId: payload.jti as string,
    expiresAt: (payload.exp as number) * 1000,
    ...(count(pf.maxBytes) !== undefined ? { maxBytes: count(pf.maxBytes) } : {}),
    ...(count(pf.maxUploads) !== undefined ? { maxUploads: count(pf.maxUploads) } : {}),
    ...(visibility ? { visibility } : {}),
  }
}
