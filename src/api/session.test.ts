import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Kysely } from 'kysely'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { commonAppDeps } from '../../test/fixtures/app-deps.js'
import { type ApiKeys, createApiKeys } from '../auth/api-keys.js'
import { createAuthenticator } from '../auth/authenticator.js'
import { createSessions } from '../auth/sessions.js'
import { createUrlSigner } from '../domain/signed-urls.js'
import type { ImageService } from '../images/image-service.js'
import { authTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { buildApp } from './app.js'

/**
 * The dashboard's sign-in through the real app, keys, authenticator and sessions on an SQLite
 * control database: the cookie's attributes, CSRF on changes, sign-out and revocation.
 */
describe('/v1/session', () => {
  let control: Kysely<ControlDb>
  let keys: ApiKeys
  let app: FastifyInstance
  const deleted = vi.fn(async (_owner: string, _id: string) => {})

  beforeAll(async () => {
    control = await openControlDb(':memory:')
    keys = createApiKeys(authTablesOf(control))
    app = await buildApp({
      ...commonAppDeps(createUrlSigner([{ kid: 'k1', secret: 'unit-test-secret' }], 300)),
      images: { delete: deleted } as unknown as ImageService,
      authenticate: createAuthenticator(keys, {}),
      sessions: createSessions(authTablesOf(control), {
        ttlMs: 60_000,
        keyIsLive: keys.isLive,
      }),
      store: { get: async () => null } as never,
    })
  })
  afterAll(async () => {
    await app?.close()
    await control?.destroy()
  })
  beforeEach(() => deleted.mockClear())

  async function signIn(key: string) {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/session',
      headers: { authorization: `Bearer ${key}` },
    })
    expect(response.statusCode).toBe(201)
    const cookie = response.cookies.find((c) => c.name === 'pf_session')!
    return { response, cookie: `pf_session=${cookie.value}`, csrf: response.json().csrfToken }
  }

  const withCookie = (cookie: string, method: 'GET' | 'DELETE', url: string, csrf?: string) =>
    app.inject({
      method,
      url,
      headers: { cookie, ...(csrf ? { 'x-csrf-token': csrf } : {}) },
    })

  const code = (response: LightMyRequestResponse) => response.json().code

  it('exchanges a key for an HttpOnly, Secure, SameSite=Strict cookie and never echoes the key', async () => {
    const { key } = await keys.create('alice', ['images:read', 'images:write'])
    const { response } = await signIn(key)
    const cookie = response.cookies.find((c) => c.name === 'pf_session')!
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/v1' })
    expect(cookie.value).not.toContain(key.slice(3))
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.json()).toMatchObject({
      ownerId: 'alice',
      scopes: ['images:read', 'images:write'],
    })
    expect(response.body).not.toContain(key)
  })

  it('gives a reloaded page its CSRF token back, and nothing without the cookie', async () => {
    const { key } = await keys.create('alice')
    const { cookie, csrf } = await signIn(key)
    const again = await withCookie(cookie, 'GET', '/v1/session')
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ ownerId: 'alice', csrfToken: csrf })
    const none = await app.inject({ method: 'GET', url: '/v1/session' })
    expect(none.statusCode).toBe(401)
    const forged = await withCookie(
      'pf_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'GET',
      '/v1/session',
    )
    expect(forged.statusCode).toBe(401)
  })

  it('refuses a change made with the cookie alone (CSRF) and makes it with the header', async () => {
    const { key } = await keys.create('alice')
    const { cookie, csrf } = await signIn(key)
    const bare = await withCookie(cookie, 'DELETE', '/v1/images/img1')
    expect(bare.statusCode).toBe(403)
    expect(code(bare)).toBe('CSRF_TOKEN_INVALID')
    const wrong = await withCookie(cookie, 'DELETE', '/v1/images/img1', `${csrf.slice(1)}x`)
    expect(code(wrong)).toBe('CSRF_TOKEN_INVALID')
    expect(deleted).not.toHaveBeenCalled()
    const right = await withCookie(cookie, 'DELETE', '/v1/images/img1', csrf)
    expect(right.statusCode).toBe(204)
    expect(deleted).toHaveBeenCalledWith('alice', 'img1')
  })

  it('signs out on the server: the same cookie is refused afterwards', async () => {
    const { key } = await keys.create('alice')
    const { cookie, csrf } = await signIn(key)
    const out = await withCookie(cookie, 'DELETE', '/v1/session', csrf)
    expect(out.statusCode).toBe(204)
    expect(out.cookies.find((c) => c.name === 'pf_session')?.value).toBe('')
    const after = await withCookie(cookie, 'GET', '/v1/session')
    expect(after.statusCode).toBe(401)
  })

  it('ends a session when the key it was opened with is revoked', async () => {
    const { id, key } = await keys.create('alice')
    const { cookie } = await signIn(key)
    expect((await withCookie(cookie, 'GET', '/v1/session')).statusCode).toBe(200)
    await keys.revoke(id)
    expect((await withCookie(cookie, 'GET', '/v1/session')).statusCode).toBe(401)
  })

  it('refuses two session cookies (one set for the parent domain by a sibling subdomain)', async () => {
    const mine = await signIn((await keys.create('alice')).key)
    const theirs = await signIn((await keys.create('mallory')).key)
    const both = await withCookie(`${theirs.cookie}; ${mine.cookie}`, 'GET', '/v1/session')
    expect(both.statusCode).toBe(401)
    expect((await withCookie(`other=1; ${mine.cookie}`, 'GET', '/v1/session')).statusCode).toBe(200)
  })

  it('opens a session only from a bearer credential, not from another session', async () => {
    const { key } = await keys.create('alice')
    const { cookie, csrf } = await signIn(key)
    const chained = await app.inject({
      method: 'POST',
      url: '/v1/session',
      headers: { cookie, 'x-csrf-token': csrf },
    })
    expect(chained.statusCode).toBe(401)
    expect(chained.cookies).toEqual([])
  })

  it('lets a bearer header win over a cookie (an API client is never a session)', async () => {
    const { key } = await keys.create('alice')
    const { cookie } = await signIn(key)
    const response = await app.inject({
      method: 'DELETE',
      url: '/v1/images/img2',
      headers: { cookie, authorization: `Bearer ${key}` },
    })
    expect(response.statusCode).toBe(204)
    expect(deleted).toHaveBeenCalledWith('alice', 'img2')
  })
})
