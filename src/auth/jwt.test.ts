import { type JWTPayload, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { createJwtVerifier } from './jwt.js'

const SECRET = 'a-test-secret-of-at-least-32-characters!'
const CONFIG = {
  secret: SECRET,
  issuer: 'https://issuer.test',
  audience: 'pixelflow',
  ownerClaim: 'sub',
  maxLifetimeSeconds: 3600,
}
const KEY = new TextEncoder().encode(SECRET)

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
    const before = Date.now()
    const principal = await verify(await mint())
    expect(principal).toEqual({
      ownerId: 'alice',
      scopes: ['images:read', 'images:write'],
      via: 'jwt',
      expiresAt: expect.any(Number),
    })
    // The token's exp (a session opened with it must not outlive it), whole seconds.
    expect(principal.expiresAt! % 1000).toBe(0)
    expect(principal.expiresAt!).toBeGreaterThan(before)
    expect(principal.expiresAt!).toBeLessThanOrEqual(before + 5 * 60_000 + 1000)
  })

  it('takes the scopes from scope (space-separated) or scp (array), dropping unknown ones', async () => {
    expect((await verify(await mint({ scope: 'images:read openid' }))).scopes).toEqual([
      'images:read',
    ])
    expect((await verify(await mint({ scp: ['images:write', 'root'] }))).scopes).toEqual([
      'images:write',
    ])
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

  it('checks the issuer only when it is configured; the audience always', async () => {
    const anyIssuer = createJwtVerifier({ ...CONFIG, issuer: undefined })
    expect((await anyIssuer(await mint({ iss: 'anywhere' }))).ownerId).toBe('alice')
    await expect(anyIssuer(await mint({ aud: 'anyone' }))).rejects.toEqual(refused(/aud/))
    await expect(
      anyIssuer(
        await new SignJWT({ sub: 'alice' })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(KEY),
      ),
    ).rejects.toEqual(refused(/aud/))
  })

  it('refuses a token without exp: it would never expire', async () => {
    const forever = await new SignJWT({ sub: 'alice', iss: CONFIG.issuer, aud: CONFIG.audience })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .sign(KEY)
    await expect(verify(forever)).rejects.toEqual(refused(/exp/))
  })

  it('refuses a token that lives longer than the maximum lifetime', async () => {
    const now = Math.floor(Date.now() / 1000)
    // exp − now over the limit (no iat to go by).
    const farNoIat = await new SignJWT({ sub: 'alice', iss: CONFIG.issuer, aud: CONFIG.audience })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now + 3600 + 120)
      .sign(KEY)
    await expect(verify(farNoIat)).rejects.toEqual(refused(/lifetime/))
    // exp − iat over the limit, even though little of it is left.
    const longLived = await new SignJWT({ sub: 'alice', iss: CONFIG.issuer, aud: CONFIG.audience })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(now - 10 * 3600)
      .setExpirationTime(now + 60)
      .sign(KEY)
    await expect(verify(longLived)).rejects.toEqual(refused(/lifetime/))
    // At the limit: accepted.
    expect((await verify(await mint({}, { expiresIn: '1h' }))).ownerId).toBe('alice')
  })

  it('never grants admin by default, whatever the token says', async () => {
    expect((await verify(await mint({ scope: 'admin images:read' }))).scopes).toEqual([
      'images:read',
    ])
    expect((await verify(await mint({ scp: ['admin'] }))).scopes).toEqual([])
  })

  it('grants admin only to tokens from the configured admin issuer', async () => {
    const withAdmin = createJwtVerifier({ ...CONFIG, adminIssuer: 'https://ops.test' })
    expect(
      (await withAdmin(await mint({ iss: 'https://ops.test', scope: 'admin' }))).scopes,
    ).toEqual(['admin'])
    // The ordinary issuer still cannot grant it.
    expect((await withAdmin(await mint({ scope: 'admin' }))).scopes).toEqual([])
    // Any other issuer is still refused.
    await expect(withAdmin(await mint({ iss: 'https://evil.test' }))).rejects.toEqual(
      refused(/iss/),
    )
  })
})
