import type { AuthConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'
import type { ApiKeys } from './api-keys.js'
import { createJwtVerifier } from './jwt.js'
import type { Principal } from './principal.js'
import { UPLOAD_TOKEN_PREFIX, type UploadTokens } from './upload-tokens.js'

export interface Authenticator {
  (authorization: string | undefined): Promise<Principal>
  /**
   * The principal without I/O when everything the credential needs is held in memory (an API
   * key whose row was read a moment ago); undefined otherwise, and the caller then awaits the
   * authenticator itself, which answers or refuses. Most requests of a busy client end here, and
   * skip the promises of the full path (about 3 µs of a 40 µs request, bench/RESULTS.md).
   */
  held?(authorization: string | undefined): Principal | undefined
}

/**
 * `Authorization: Bearer <credential>`: an API key (`pf_…`), an upload token (`pfu_…`) when
 * upload tokens are given, or, when configured, a JWT.
 */
export function createAuthenticator(
  apiKeys: ApiKeys,
  config: Pick<AuthConfig, 'jwt'>,
  uploadTokens?: Pick<UploadTokens, 'verify'>,
): Authenticator {
  const verifyJwt = config.jwt ? createJwtVerifier(config.jwt) : null
  const authenticate = async (authorization: string | undefined): Promise<Principal> => {
    const match = BEARER.exec(authorization ?? '')
    if (!match)
      throw new AppError(
        'UNAUTHENTICATED',
        'An API key or token is required (Authorization: Bearer <credential>)',
      )
    const credential = match[1]!
    if (uploadTokens && credential.startsWith(UPLOAD_TOKEN_PREFIX))
      return uploadTokens.verify(credential)
    if (credential.startsWith('pf_')) {
      const principal = await apiKeys.verify(credential)
      if (!principal) throw new AppError('UNAUTHENTICATED', 'The API key is not valid')
      return principal
    }
    if (verifyJwt && credential.split('.').length === 3) return verifyJwt(credential)
    throw new AppError('UNAUTHENTICATED', 'The credential is not valid')
  }
  return Object.assign(authenticate, {
    held(authorization: string | undefined): Principal | undefined {
      const credential = BEARER.exec(authorization ?? '')?.[1]
      return credential?.startsWith('pf_') ? apiKeys.verifyHeld(credential) : undefined
    },
  })
}

const BEARER = /^Bearer\s+(\S+)$/i
