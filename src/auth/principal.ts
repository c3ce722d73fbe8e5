/** Scopes a credential can carry. `admin` implies the others. */
export const SCOPES = ['images:read', 'images:write', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

/** Scopes of a credential that names none: an ordinary client reads and writes its own images. */
export const DEFAULT_SCOPES: readonly Scope[] = ['images:read', 'images:write']

export interface Principal {
  /** The tenant or user whose images these are: the shard key. */
  ownerId: string
  scopes: readonly Scope[]
  via: 'api-key' | 'jwt'
  keyId?: string
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope)
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
