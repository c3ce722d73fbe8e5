import type { Principal } from '../auth/principal.js'
import type { Uploader } from './types.js'

/** What an upload token's use count needs: take one, give one back. */
export interface TokenUses {
  claim(grant: NonNullable<Principal['upload']>): Promise<void>
  refund(tokenId: string): Promise<void>
}

/**
 * The uploader a principal is: a key or a JWT uploads up to the server's limit with the visibility
 * it asks for; an upload token within its own `maxBytes`, with its visibility forced, and each
 * upload takes one of its `maxUploads`.
 */
export function uploaderOf(
  principal: Principal,
  maxUploadBytes: number,
  uses?: TokenUses,
): Uploader {
  const grant = principal.upload
  if (!grant) return { ownerId: principal.ownerId, maxBytes: maxUploadBytes }
  return {
    ownerId: principal.ownerId,
    maxBytes: Math.min(grant.maxBytes ?? maxUploadBytes, maxUploadBytes),
    visibility: grant.visibility,
    tokenId: grant.tokenId,
    ...(uses ? { claim: () => uses.claim(grant) } : {}),
  }
}
