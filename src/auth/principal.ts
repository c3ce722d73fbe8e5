/**
 * Scopes a credential can carry. `admin` implies the others; `images:write` implies
 * `images:upload`, the only scope of an upload token (upload, nothing else).
 */
export const SCOPES = ['images:read', 'images:write', 'images:upload', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

/** Scopes of a credential that names none: an ordinary client reads and writes its own images. */
export const DEFAULT_SCOPES: readonly Scope[] = ['images:read', 'images:write']

export interface Principal {
  /** The tenant or user whose images these are: the shard key. */
  ownerId: string
  scopes: readonly Scope[]
  via: 'api-key' | 'jwt' | 'upload-token'
  keyId?: string
  /** When the credential itself stops working (a JWT's exp), in epoch ms; keys have none. */
  expiresAt?: number
  /** An upload token's bounds, which every upload made with it obeys. */
  upload?: UploadGrant
}

/** What an upload token allows (src/auth/upload-tokens.ts). */
export interface UploadGrant {
  /** The token's unique id (jti): its use count is kept under it. */
  tokenId: string
  maxBytes?: number
  maxUploads?: number
  visibility?: 'public' | 'private'
  /** Epoch milliseconds. */
  expiresAt: number
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  if (principal.scopes.includes('admin') || principal.scopes.includes(scope)) return true
  return scope === 'images:upload' && principal.scopes.includes('images:write')
}

/** "images:read images:write" or ["images:read"] → known scopes; unknown ones are dropped, not trusted. */
export function parseScopes(value: unknown): Scope[] {
  const items = Array.isArray(value)
    ? value
    : typeof value === 'string'
      ? value.split(/[\s,]+/)
      : []
  return items.filter((item): item is Scope => (SCOPES as readonly string[]).includes(item))
}
