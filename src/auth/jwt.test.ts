import { type JWTPayload, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { createJwtVerifier } from './jwt.js'

const SECRET = 'a-test-secret-of-at-least-32-characters!'
const CONFIG = {
  secret: SECRET,
  issuer: 'https://issuer.test',
  audience: 'pixelflow',
  ownerClaim: 'sub',
}

/** A token as the configured issuer would mint it, with whatever the test changes. */
function mint(
  claims: JWTPayload = {},
  { secret = SECRET, alg = 'HS256', expiresIn = '5m' as string | number } = {},
): Promise<string> {
  return new SignJWT({ sub: 'alice', iss: CONFIG.issuer, aud: CONFIG.audience, ...claims })
    .setProtectedHeader({ alg })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret))
}

const refused = (message: RegExp) =>
  expect.objectContaining({
    code: 'UNAUTHENTICATED',
    statusCode: 401,
    message: expect.stringMatching(message),
  })

describe('JWT verifier (HS256)', () => {
  const verify = createJwtVerifier(CONFIG)

  it('accepts a valid token: the owner from sub, the default scopes without a scope claim', async () => {
    expect(await verify(await mint())).toEqual({
      ownerId: 'alice',
      scopes: ['images:read', 'images:write'],
      via: 'jwt',
    })
  })

  it('takes the scopes from scope (space-separated) or scp (array), dropping unknown ones', async () => {
    expect((await verify(await mint({ scope: 'images:read openid' }))).scopes).toEqual([
      'images:read',
    ])
    expect((await verify(await mint({ scp: ['admin', 'root'] }))).scopes).toEqual(['admin'])
    // A scope claim that names nothing we know grants nothing, not the defaults.
    expect((await verify(await mint({ scope: 'openid profile' }))).scopes).toEqual([])
  })

  it('refuses a token for another audience or from another issuer', async () => {
    await expect(verify(await mint({ aud: 'someone-else' }))).rejects.toEqual(refused(/aud/))
    await expect(verify(await mint({ iss: 'https://evil.test' }))).rejects.toEqual(refused(/iss/))
  })

  it('refuses an expired token', async () => {
    const expired = await mint({}, { expiresIn: Math.floor(Date.now() / 1000) - 60 })
    await expect(verify(expired)).rejects.toEqual(refused(/expired/))
  })

  it('refuses a token signed with another secret or another algorithm', async () => {
    const otherSecret = await mint({}, { secret: 'another-secret-of-at-least-32-characters' })
    await expect(verify(otherSecret)).rejects.toEqual(refused(/not valid/))
    // Same secret, but HS512 is not on the allow-list.
    await expect(verify(await mint({}, { alg: 'HS512' }))).rejects.toEqual(refused(/not valid/))
    await expect(verify('not.a.jwt')).rejects.toEqual(refused(/not valid/))
  })

  it('refuses a token without a usable owner claim', async () => {
    await expect(verify(await mint({ sub: undefined }))).rejects.toEqual(refused(/"sub"/))
    await expect(verify(await mint({ sub: 'x'.repeat(256) }))).rejects.toEqual(refused(/"sub"/))
  })

  it('reads the owner from the configured claim', async () => {
    const byTenant = createJwtVerifier({ ...CONFIG, ownerClaim: 'tenant' })
    expect((await byTenant(await mint({ tenant: 'acme' }))).ownerId).toBe('acme')
    await expect(byTenant(await mint())).rejects.toEqual(refused(/"tenant"/))
  })

  it('checks issuer and audience only when they are configured', async () => {
    const lax = createJwtVerifier({ secret: SECRET, ownerClaim: 'sub' })
    expect((await lax(await mint({ aud: 'anyone', iss: 'anywhere' }))).ownerId).toBe('alice')
  })
})
