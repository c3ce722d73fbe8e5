import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { hasScope } from './principal.js'
import { createUploadTokens } from './upload-tokens.js'

const keys = [{ kid: 'new', secret: 'the-new-url-signing-secret' }]

describe('upload tokens', () => {
  const tokens = createUploadTokens(keys)

  it('round-trips owner and bounds, with only the images:upload scope', async () => {
    const minted = await tokens.mint({
      ownerId: 'alice',
      expiresInSeconds: 60,
      maxBytes: 1000,
      maxUploads: 3,
      visibility: 'private',
    })
    expect(minted.token).toMatch(/^pfu_[\w-]+\.[\w-]+\.[\w-]+$/)
    const principal = await tokens.verify(minted.token)
    expect(principal).toEqual({
      ownerId: 'alice',
      scopes: ['images:upload'],
      via: 'upload-token',
      upload: {
        tokenId: minted.tokenId,
        expiresAt: minted.expiresAt,
        maxBytes: 1000,
        maxUploads: 3,
        visibility: 'private',
      },
    })
    for (const scope of ['images:read', 'images:write', 'admin'] as const)
      expect(hasScope(principal, scope)).toBe(false)
    expect(hasScope(principal, 'images:upload')).toBe(true)
  })

  it('gives every token its own id', async () => {
    const a = await tokens.mint({ ownerId: 'o', expiresInSeconds: 60 })
    const b = await tokens.mint({ ownerId: 'o', expiresInSeconds: 60 })
    expect(a.tokenId).not.toBe(b.tokenId)
  })

  it('refuses an expired token', async () => {
    const minted = await tokens.mint({ ownerId: 'o', expiresInSeconds: 1 }, Date.now() - 5_000)
    await expect(tokens.verify(minted.token)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      message: 'The upload token has expired',
    })
  })

  it('verifies with an older key after rotation, and refuses once that key is dropped', async () => {
    const old = await tokens.mint({ ownerId: 'o', expiresInSeconds: 60 })
    const rotated = createUploadTokens([
      { kid: 'newer', secret: 'another-secret-entirely' },
      ...keys,
    ])
    expect((await rotated.verify(old.token)).ownerId).toBe('o')
    const dropped = createUploadTokens([{ kid: 'newer', secret: 'another-secret-entirely' }])
    await expect(dropped.verify(old.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
  })

  it('refuses a token signed with the URL-signing secret itself, not the derived key', async () => {
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: 'new', typ: 'pixelflow-upload+jwt' })
      .setSubject('mallory')
      .setAudience('pixelflow:upload')
      .setJti('x')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode(keys[0]!.secret))
    await expect(tokens.verify(`pfu_${jwt}`)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
  })
})

describe('hasScope and images:upload', () => {
  it('images:write and admin include images:upload; images:read does not', () => {
    const as = (scope: 'images:read' | 'images:write' | 'admin') => ({
      ownerId: 'o',
      scopes: [scope],
      via: 'api-key' as const,
    })
    expect(hasScope(as('images:write'), 'images:upload')).toBe(true)
    expect(hasScope(as('admin'), 'images:upload')).toBe(true)
    expect(hasScope(as('images:read'), 'images:upload')).toBe(false)
  })
})
