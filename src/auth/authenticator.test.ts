import { SignJWT } from 'jose'
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { authTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { type ApiKeys, createApiKeys } from './api-keys.js'
import { createAuthenticator } from './authenticator.js'

const SECRET = 'a-test-secret-of-at-least-32-characters!'
const JWT = { secret: SECRET, ownerClaim: 'sub', audience: 'pixelflow', maxLifetimeSeconds: 3600 }

const token = (sub: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub, aud: 'pixelflow', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))

const unauthenticated = (message: RegExp) =>
  expect.objectContaining({
    code: 'UNAUTHENTICATED',
    statusCode: 401,
    message: expect.stringMatching(message),
  })

describe('authenticator', () => {
  let control: Kysely<ControlDb>
  let keys: ApiKeys
  beforeEach(async () => {
    control = await openControlDb(':memory:')
    keys = createApiKeys(authTablesOf(control))
  })
  afterEach(async () => {
    await control.destroy()
  })

  it('needs an Authorization: Bearer header', async () => {
    const authenticate = createAuthenticator(keys, {})
    const { key } = await keys.create('alice')
    for (const header of [undefined, '', 'Bearer', `Basic ${key}`, `Bearer ${key} extra`])
      await expect(authenticate(header)).rejects.toEqual(unauthenticated(/Bearer <credential>/))
  })

  it('accepts a valid API key, whatever the case of "Bearer"', async () => {
    const authenticate = createAuthenticator(keys, {})
    const { id, key } = await keys.create('alice', ['images:read'])
    const principal = { ownerId: 'alice', scopes: ['images:read'], via: 'api-key', keyId: id }
    expect(await authenticate(`Bearer ${key}`)).toEqual(principal)
    expect(await authenticate(`bearer  ${key}`)).toEqual(principal)
  })

  it('refuses an invalid or revoked API key', async () => {
    const authenticate = createAuthenticator(keys, {})
    const { id, key } = await keys.create('alice')
    await expect(authenticate(`Bearer ${key.slice(0, -1)}x`)).rejects.toEqual(
      unauthenticated(/API key is not valid/),
    )
    await keys.revoke(id)
    await expect(authenticate(`Bearer ${key}`)).rejects.toEqual(
      unauthenticated(/API key is not valid/),
    )
  })

  it('accepts a JWT only when JWTs are configured', async () => {
    const jwt = await token('bob')
    expect(await createAuthenticator(keys, { jwt: JWT })(`Bearer ${jwt}`)).toEqual({
      ownerId: 'bob',
      scopes: ['images:read', 'images:write'],
      via: 'jwt',
      expiresAt: expect.any(Number),
    })
    await expect(createAuthenticator(keys, {})(`Bearer ${jwt}`)).rejects.toEqual(
      unauthenticated(/credential is not valid/),
    )
  })

  it('a JWT that claims admin gets it only from the configured admin issuer', async () => {
    const plain = createAuthenticator(keys, { jwt: JWT })
    const claimsAdmin = await token('mallory', { scope: 'admin', iss: 'https://ops.test' })
    expect((await plain(`Bearer ${claimsAdmin}`)).scopes).toEqual([])
    const withAdmin = createAuthenticator(keys, {
      jwt: { ...JWT, adminIssuer: 'https://ops.test' },
    })
    expect((await withAdmin(`Bearer ${claimsAdmin}`)).scopes).toEqual(['admin'])
  })

  it('never reads an API key as a JWT or the other way round', async () => {
    const authenticate = createAuthenticator(keys, { jwt: JWT })
    await expect(authenticate('Bearer something-else')).rejects.toEqual(
      unauthenticated(/credential is not valid/),
    )
    // A JWT that starts like a key is checked as a key, and fails as one.
    await expect(authenticate(`Bearer pf_${await token('bob')}`)).rejects.toEqual(
      unauthenticated(/API key is not valid/),
    )
  })
})
