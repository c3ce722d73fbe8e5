import { describe, expect, it } from 'vitest'
import { hasScope, type Principal, parseScopes, type Scope } from './principal.js'

const as = (...scopes: Scope[]): Principal => ({ ownerId: 'o', scopes, via: 'api-key' })

describe('hasScope', () => {
  it('grants exactly the scopes held', () => {
    expect(hasScope(as('images:read'), 'images:read')).toBe(true)
    expect(hasScope(as('images:read'), 'images:write')).toBe(false)
    expect(hasScope(as('images:read'), 'admin')).toBe(false)
    expect(hasScope(as(), 'images:read')).toBe(false)
  })

  it('lets admin do everything', () => {
    for (const scope of ['images:read', 'images:write', 'admin'] as const)
      expect(hasScope(as('admin'), scope)).toBe(true)
  })
})

describe('parseScopes', () => {
  it('reads space- or comma-separated strings and arrays', () => {
    expect(parseScopes('images:read images:write')).toEqual(['images:read', 'images:write'])
    expect(parseScopes('images:read,admin')).toEqual(['images:read', 'admin'])
    expect(parseScopes(['admin'])).toEqual(['admin'])
  })

  it('drops what it does not know instead of trusting it', () => {
    expect(parseScopes('images:read images:delete ADMIN')).toEqual(['images:read'])
    expect(parseScopes(['admin', 42, null])).toEqual(['admin'])
    expect(parseScopes(42)).toEqual([])
    expect(parseScopes(undefined)).toEqual([])
  })
})
