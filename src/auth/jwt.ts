import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose'
import type { AuthConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import { DEFAULT_SCOPES, type Principal, parseScopes, type Scope } from './principal.js'

type JwtConfig = NonNullable<AuthConfig['jwt']>

/**
 * JWT bearer tokens (RFC 8725 practice): an explicit algorithm allow-list per key kind, so an
 * HS256 token can never be checked against a public key; the audience always (a token minted for
 * another service of the same issuer must not pass), the issuer when configured; `exp` required and
 * the lifetime capped, so a leaked token dies; the owner from a configurable claim; scopes from
 * `scope` (space-separated) or `scp` (array), `admin` only from the configured admin issuer.
 */
export function createJwtVerifier(config: JwtConfig) {
  const key = config.secret
    ? new TextEncoder().encode(config.secret)
    : createRemoteJWKSet(new URL(config.jwksUrl as string))
  const algorithms = config.secret ? ['HS256'] : ['RS256', 'ES256']
  const issuers = config.issuer
    ? [config.issuer, ...(config.adminIssuer ? [config.adminIssuer] : [])]
    : undefined
  const options = {
    algorithms,
    audience: config.audience,
    requiredClaims: ['exp', 'aud'],
    ...(issuers ? { issuer: issuers } : {}),
  }

  return async (token: string): Promise<Principal> => {
    const payload = await verifyOrExplain(token, key, options)
    checkLifetime(payload, config.maxLifetimeSeconds)
    const ownerId = payload[config.ownerClaim]
    if (typeof ownerId !== 'string' || ownerId === '' || ownerId.length > 255) {
      throw new AppError('UNAUTHENTICATED', `The token has no usable "${config.ownerClaim}" claim`)
    }
    const named = payload.scope ?? payload.scp
    const scopes = named === undefined ? DEFAULT_SCOPES : parseScopes(named)
    const mayBeAdmin = config.adminIssuer !== undefined && payload.iss === config.adminIssuer
    return {
      ownerId,
      scopes: mayBeAdmin ? scopes : scopes.filter((scope: Scope) => scope !== 'admin'),
      via: 'jwt',
      // checkLifetime has made sure exp is there; a session opened with the token ends with it.
      expiresAt: Number(payload.exp) * 1000,
    }
  }
}

/** jose has checked that exp is present and in the future; neither it nor iat may be too far apart. */
function checkLifetime(payload: JWTPayload, maxSeconds: number): void {
  const exp = payload.exp as number
  const now = Math.floor(Date.now() / 1000)
  const fromIssue = typeof payload.iat === 'number' ? exp - payload.iat : 0
  if (exp - now > maxSeconds || fromIssue > maxSeconds)
    throw new AppError(
      'UNAUTHENTICATED',
      `The token's lifetime exceeds the accepted maximum of ${maxSeconds} seconds`,
    )
}

async function verifyOrExplain(
  token: string,
  key: Parameters<typeof jwtVerify>[1],
  options: object,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key as never, options)).payload
  } catch (error) {
    if (error instanceof errors.JWTExpired)
      throw new AppError('UNAUTHENTICATED', 'The token has expired', { cause: error })
    if (error instanceof errors.JWTClaimValidationFailed)
      throw new AppError('UNAUTHENTICATED', `The token's ${error.claim} claim is not accepted`, {
        cause: error,
      })
    if (error instanceof errors.JOSEError && !(error instanceof errors.JWKSTimeout)) {
      throw new AppError('UNAUTHENTICATED', 'The token is not valid', { cause: error })
    }
    throw error // the JWKS endpoint could not be reached: not the client's fault
  }
}
