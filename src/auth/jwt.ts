import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose'
import type { AuthConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import { DEFAULT_SCOPES, type Principal, parseScopes } from './principal.js'

type JwtConfig = NonNullable<AuthConfig['jwt']>

/**
 * JWT bearer tokens (RFC 8725 practice): an explicit algorithm allow-list per key kind, so an
 * HS256 token can never be checked against a public key; issuer and audience when configured;
 * the owner from a configurable claim; scopes from `scope` (space-separated) or `scp` (array).
 */
export function createJwtVerifier(config: JwtConfig) {
  const key = config.secret
    ? new TextEncoder().encode(config.secret)
    : createRemoteJWKSet(new URL(config.jwksUrl as string))
  const algorithms = config.secret ? ['HS256'] : ['RS256', 'ES256']
  const options = {
    algorithms,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  }

  return async (token: string): Promise<Principal> => {
    const payload = await verifyOrExplain(token, key, options)
    const ownerId = payload[config.ownerClaim]
    if (typeof ownerId !== 'string' || ownerId === '' || ownerId.length > 255) {
      throw new AppError('UNAUTHENTICATED', `The token has no usable "${config.ownerClaim}" claim`)
    }
    const named = payload.scope ?? payload.scp
    return {
      ownerId,
      scopes: named === undefined ? DEFAULT_SCOPES : parseScopes(named),
      via: 'jwt',
    }
  }
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
