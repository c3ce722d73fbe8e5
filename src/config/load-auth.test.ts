import { describe, expect, it } from 'vitest'
import { loadConfig } from './load.js'

const SECRET = 'a-test-secret-of-at-least-32-characters!'

describe('loadConfig: JWT settings', () => {
  it('refuses JWTs without a configured audience: a token minted for another service must not pass', () => {
    expect(() => loadConfig({ PIXELFLOW_JWT_SECRET: SECRET })).toThrow(
      /\/auth\/jwt\/audience: PIXELFLOW_JWT_AUDIENCE is required/,
    )
    expect(() => loadConfig({ PIXELFLOW_JWT_JWKS_URL: 'https://idp.test/jwks.json' })).toThrow(
      /PIXELFLOW_JWT_AUDIENCE is required/,
    )
  })

  it('caps token lifetimes at a day by default; the cap and the admin issuer are settings', () => {
    const defaults = loadConfig({ PIXELFLOW_JWT_SECRET: SECRET, PIXELFLOW_JWT_AUDIENCE: 'pf' })
    expect(defaults.auth.jwt).toMatchObject({ audience: 'pf', maxLifetimeSeconds: 86_400 })
    expect(defaults.auth.jwt?.adminIssuer).toBeUndefined()
    const set = loadConfig({
      PIXELFLOW_JWT_SECRET: SECRET,
      PIXELFLOW_JWT_AUDIENCE: 'pf',
      PIXELFLOW_JWT_MAX_LIFETIME_SECONDS: '600',
      PIXELFLOW_JWT_ADMIN_ISSUER: 'https://ops.test',
    })
    expect(set.auth.jwt).toMatchObject({ maxLifetimeSeconds: 600, adminIssuer: 'https://ops.test' })
    expect(() =>
      loadConfig({
        PIXELFLOW_JWT_SECRET: SECRET,
        PIXELFLOW_JWT_AUDIENCE: 'pf',
        PIXELFLOW_JWT_MAX_LIFETIME_SECONDS: '0',
      }),
    ).toThrow(/maxLifetimeSeconds/)
  })

  it('needs no audience when JWTs are off', () => {
    expect(loadConfig({}).auth.jwt).toBeUndefined()
  })
})
