import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const KEY = new TextEncoder().encode(SECRET)

/** A token as an issuer sharing our secret could mint it; each test changes what it needs. */
function token(
  claims: Record<string, unknown>,
  { exp = '5m' as string | number | null, iss = 'https://idp.test', aud = 'pixelflow' } = {},
) {
  let jwt = new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setIssuer(iss)
    .setAudience(aud)
  if (exp !== null) jwt = jwt.setExpirationTime(exp)
  return jwt.sign(KEY)
}

/** Issue 11, finding 3, replayed against the whole server. */
describe('JWTs at the gateway', () => {
  let h: Harness
  let withAdminIssuer: Harness
  const env = {
    PIXELFLOW_JWT_SECRET: SECRET,
    PIXELFLOW_JWT_AUDIENCE: 'pixelflow',
    PIXELFLOW_JWT_MAX_LIFETIME_SECONDS: '3600',
  }
  beforeAll(async () => {
    h = await startHarness(env)
    withAdminIssuer = await startHarness({ ...env, PIXELFLOW_JWT_ADMIN_ISSUER: 'https://ops.test' })
  })
  afterAll(async () => {
    await h.close()
    await withAdminIssuer.close()
  })

  const get = (on: Harness, url: string, jwt: string) =>
    on.pf.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${jwt}` } })

  it('a token that says admin is not admin unless it comes from the admin issuer', async () => {
    const claimsAdmin = await token({ scope: 'admin' })
    const refused = await get(h, '/v1/admin/images', claimsAdmin)
    expect(refused.statusCode).toBe(403)
    expect(refused.json().code).toBe('INSUFFICIENT_SCOPE')
    expect((await get(withAdminIssuer, '/v1/admin/images', claimsAdmin)).statusCode).toBe(403)
    const fromOps = await token({ scope: 'admin' }, { iss: 'https://ops.test' })
    expect((await get(withAdminIssuer, '/v1/admin/images', fromOps)).statusCode).toBe(200)
  })

  it('refuses a token minted for another service, one without exp, and one that lives too long', async () => {
    for (const jwt of [
      await token({}, { aud: 'another-service' }),
      await token({}, { exp: null }),
      await token({}, { exp: '2h' }),
    ]) {
      const res = await get(h, '/v1/images', jwt)
      expect(res.statusCode).toBe(401)
      expect(res.json().code).toBe('UNAUTHENTICATED')
    }
    expect((await get(h, '/v1/images', await token({}))).statusCode).toBe(200)
  })
})
