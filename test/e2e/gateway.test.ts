import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUrlSigner } from '../../src/domain/signed-urls.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

const JWT_SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const SIGNING = { kid: 'k2', secret: 'signing-secret-number-two' }
const OLD_SIGNING = { kid: 'k1', secret: 'signing-secret-number-one' }

const jwt = (claims: Record<string, unknown>, expiresIn = '5m', secret = JWT_SECRET) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://issuer.test')
    .setAudience('pixelflow')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret))

describe('the gateway: credentials, scopes, ownership, signed URLs', () => {
  let h: Harness
  let image: any
  let privateImage: any
  const keys: Record<string, string> = {}

  beforeAll(async () => {
    h = await startHarness({
      PIXELFLOW_JWT_SECRET: JWT_SECRET,
      PIXELFLOW_JWT_ISSUER: 'https://issuer.test',
      PIXELFLOW_JWT_AUDIENCE: 'pixelflow',
      PIXELFLOW_URL_SIGNING_KEYS: `${SIGNING.kid}:${SIGNING.secret},${OLD_SIGNING.kid}:${OLD_SIGNING.secret}`,
      PIXELFLOW_SIGNED_URL_TTL_SECONDS: '600',
    })
    keys.readOnly = (await h.pf.deps.apiKeys.create('alice', ['images:read'])).key
    keys.writeOnly = (await h.pf.deps.apiKeys.create('alice', ['images:write'])).key
    keys.admin = (await h.pf.deps.apiKeys.create('root', ['admin'])).key
    image = await h.waitSettled((await h.upload(await makeJpeg(), 'image/jpeg')).json().id)
    const res = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/images?visibility=private',
      payload: await makeJpeg(),
      headers: { authorization: `Bearer ${h.alice}`, 'content-type': 'image/jpeg' },
    })
    privateImage = await h.waitSettled(res.json().id)
  })
  afterAll(() => h.close())

  const call = (method: string, url: string, credential?: string, payload?: Buffer) =>
    h.pf.app.inject({
      method: method as 'GET',
      url,
      payload,
      headers: {
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...(payload ? { 'content-type': 'image/jpeg' } : {}),
      },
    })

  it('answers every endpoint × credential case with the right status', async () => {
    const body = await makeJpeg(64, 64)
    const expired = await jwt({ sub: 'alice' }, '-1m')
    const badSignature = await jwt(
      { sub: 'alice' },
      '5m',
      'another-secret-that-is-also-32-bytes-long!',
    )
    const endpoints = [
      { name: 'upload', method: 'POST', url: '/v1/images', body, scope: 'write', owned: false },
      { name: 'list', method: 'GET', url: '/v1/images', scope: 'read', owned: false },
      { name: 'get', method: 'GET', url: `/v1/images/${image.id}`, scope: 'read', owned: true },
      {
        name: 'delete',
        method: 'DELETE',
        url: `/v1/images/${image.id}`,
        scope: 'write',
        owned: true,
      },
      { name: 'admin list', method: 'GET', url: '/v1/admin/images', scope: 'admin', owned: false },
    ]
    for (const e of endpoints) {
      const expect_ = async (credential: string | undefined, status: number, code?: string) => {
        const res = await call(e.method, e.url, credential, e.body)
        expect(res.statusCode, `${e.name} ${res.body}`).toBe(status)
        if (code) expect(res.json().code).toBe(code)
      }
      await expect_(undefined, 401, 'UNAUTHENTICATED')
      await expect_(expired, 401, 'UNAUTHENTICATED')
      await expect_(badSignature, 401, 'UNAUTHENTICATED')
      await expect_(e.scope === 'write' ? keys.readOnly : keys.writeOnly, 403, 'INSUFFICIENT_SCOPE')
      if (e.scope === 'admin') await expect_(h.alice, 403, 'INSUFFICIENT_SCOPE')
      if (e.owned) await expect_(h.bob, 404, 'IMAGE_NOT_FOUND')
      if (e.owned) await expect_(await jwt({ sub: 'bob' }), 404, 'IMAGE_NOT_FOUND')
    }
    // A wrong owner's listing never shows alice's images.
    const listed = (await call('GET', '/v1/images', h.bob)).json().items.map((i: any) => i.id)
    expect(listed).not.toContain(image.id)
    // Private delivery without a credential (an unsigned URL): as if there were no such image.
    const unsigned = new URL(privateImage.variants[0].url).pathname
    expect((await call('GET', unsigned)).json().code).toBe('IMAGE_NOT_FOUND')
  })

  it('the admin listing spans owners, newest first, with owner ids and a cursor', async () => {
    const bobs = (await h.upload(await makeJpeg(32, 32), 'image/jpeg', {}, h.bob)).json()
    const first = (await call('GET', '/v1/admin/images?limit=2', keys.admin!)).json()
    expect(first.items.map((i: any) => [i.id, i.ownerId])).toEqual([
      [bobs.id, 'bob'],
      [privateImage.id, 'alice'],
    ])
    expect(first.links.next).toContain('/v1/admin/images?limit=2&cursor=')
    const second = (
      await call('GET', `/v1/admin/images?limit=2&cursor=${first.nextCursor}`, keys.admin!)
    ).json()
    expect(second.items.map((i: any) => i.id)).toContain(image.id)
    expect(second.items.map((i: any) => i.id)).not.toContain(bobs.id)
  })

  it('a JWT works like a key: owner from sub, scopes from scope, admin implies all', async () => {
    expect(
      (
        await call(
          'GET',
          `/v1/images/${image.id}`,
          await jwt({ sub: 'alice', scope: 'images:read' }),
        )
      ).statusCode,
    ).toBe(200)
    expect(
      (
        await call(
          'DELETE',
          `/v1/images/${image.id}`,
          await jwt({ sub: 'alice', scope: 'images:read' }),
        )
      ).statusCode,
    ).toBe(403)
    const wrongAudience = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://issuer.test')
      .setAudience('someone-else')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET))
    expect((await call('GET', '/v1/images', wrongAudience)).statusCode).toBe(401)
    const wrongIssuer = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://evil.test')
      .setAudience('pixelflow')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET))
    expect((await call('GET', '/v1/images', wrongIssuer)).statusCode).toBe(401)
    expect((await call('GET', '/v1/images', keys.admin)).statusCode).toBe(200)
  })

  it('revoked keys stop at once; a rotated key keeps working through its grace period only', async () => {
    const { id, key } = await h.pf.deps.apiKeys.create('carol')
    const fresh = await h.pf.deps.apiKeys.rotate(id, 60_000)
    expect((await call('GET', '/v1/images', key)).statusCode).toBe(200)
    expect((await call('GET', '/v1/images', fresh!.key)).statusCode).toBe(200)
    const { id: shortId, key: shortKey } = await h.pf.deps.apiKeys.create('carol')
    await h.pf.deps.apiKeys.rotate(shortId, 0)
    expect((await call('GET', '/v1/images', shortKey)).statusCode).toBe(401)
    expect(await h.pf.deps.apiKeys.revoke(fresh!.id)).toBe(true)
    expect((await call('GET', '/v1/images', fresh!.key)).statusCode).toBe(401)
    const listed = await h.pf.deps.apiKeys.list('carol')
    expect(JSON.stringify(listed)).not.toContain(fresh!.key.slice(-43))
  })

  describe('private images', () => {
    const variantUrl = () =>
      new URL(privateImage.variants.find((v: any) => v.name === 'thumb' && v.format === 'webp').url)
    const get = (url: URL | string) =>
      call('GET', typeof url === 'string' ? url : url.pathname + url.search)

    it('are served through their signed URL with private caching', async () => {
      expect(privateImage.visibility).toBe('private')
      const res = await get(variantUrl())
      expect(res.statusCode).toBe(200)
      const maxAge = Number(
        /^private, max-age=(\d+)$/.exec(res.headers['cache-control'] as string)?.[1],
      )
      expect(maxAge).toBeGreaterThan(590)
      expect(maxAge).toBeLessThanOrEqual(600)
    })

    it('refuse a tampered signature, path or expiry with 403', async () => {
      const url = variantUrl()
      const sig = url.searchParams.get('sig')!
      const tampered = new URL(url)
      tampered.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
      expect((await get(tampered)).json().code).toBe('SIGNATURE_INVALID')
      const otherPath = new URL(url)
      otherPath.pathname = otherPath.pathname.replace(/thumb\.\w+\.webp$/, 'large.webp')
      expect((await get(otherPath)).json().code).toBe('SIGNATURE_INVALID')
      const later = new URL(url)
      later.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3600))
      expect((await get(later)).json().code).toBe('SIGNATURE_INVALID')
      const unknownKid = new URL(url)
      unknownKid.searchParams.set('kid', 'nope')
      expect((await get(unknownKid)).statusCode).toBe(403)
    })

    it('refuse an expired URL with 403 URL_EXPIRED, and accept one signed with the previous key', async () => {
      const path = variantUrl().pathname
      const stale = createUrlSigner([SIGNING], 60).sign(path, Date.now() - 3_600_000)
      expect((await get(stale)).json()).toMatchObject({ status: 403, code: 'URL_EXPIRED' })
      const byOldKey = createUrlSigner([OLD_SIGNING], 60).sign(path)
      expect((await get(byOldKey)).statusCode).toBe(200)
    })

    it('a public image ignores signatures and stays immutable', async () => {
      const url = new URL(image.variants[0].url)
      expect(url.search).toBe('')
      expect((await get(url)).headers['cache-control']).toBe('public, max-age=31536000, immutable')
    })
  })

  it('sets security headers, never cookies, and answers CORS preflights', async () => {
    const delivery = await call('GET', new URL(image.variants[0].url).pathname)
    expect(delivery.headers).toMatchObject({
      'content-security-policy': "default-src 'none'; sandbox",
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'cross-origin',
    })
    expect(delivery.headers['set-cookie']).toBeUndefined()
    const preflight = await h.pf.app.inject({
      method: 'OPTIONS',
      url: '/v1/images',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('*')
  })

  it('publishes an OpenAPI document and browsable docs from the route schemas', async () => {
    const doc = (await call('GET', '/openapi.json')).json()
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/images', '/v1/images/{id}', '/i/{id}/{file}']),
    )
    expect(doc.paths['/v1/images'].post.responses['202']).toBeDefined()
    const docs = await call('GET', '/docs/')
    expect(docs.statusCode).toBe(200)
    expect(docs.headers['content-type']).toMatch(/text\/html/)
  })
})

describe('JWT from a JWKS URL (RS256 and ES256)', () => {
  let h: Harness
  let server: Server
  const pairs: Record<string, Awaited<ReturnType<typeof generateKeyPair>>> = {}

  beforeAll(async () => {
    pairs.RS256 = await generateKeyPair('RS256')
    pairs.ES256 = await generateKeyPair('ES256')
    const jwks = {
      keys: await Promise.all(
        Object.entries(pairs).map(async ([alg, p]) => ({
          ...(await exportJWK(p.publicKey)),
          alg,
          kid: alg,
        })),
      ),
    }
    server = createServer((_req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify(jwks)),
    ).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    h = await startHarness({
      PIXELFLOW_JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      PIXELFLOW_JWT_OWNER_CLAIM: 'tenant',
      PIXELFLOW_JWT_AUDIENCE: 'pixelflow',
    })
  })
  afterAll(async () => {
    await h.close()
    server.close()
  })

  it('verifies both algorithms, takes the owner from the configured claim, refuses HS256', async () => {
    for (const alg of ['RS256', 'ES256']) {
      const token = await new SignJWT({ tenant: 'acme', aud: 'pixelflow' })
        .setProtectedHeader({ alg, kid: alg })
        .setExpirationTime('5m')
        .sign(pairs[alg]!.privateKey)
      const res = await h.pf.app.inject({
        method: 'GET',
        url: '/v1/images',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(res.statusCode, res.body).toBe(200)
    }
    const noTenant = await new SignJWT({ sub: 'acme', aud: 'pixelflow' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ES256' })
      .setExpirationTime('5m')
      .sign(pairs.ES256!.privateKey)
    expect(
      (
        await h.pf.app.inject({
          method: 'GET',
          url: '/v1/images',
          headers: { authorization: `Bearer ${noTenant}` },
        })
      ).statusCode,
    ).toBe(401)
    const hs = await jwt({ tenant: 'acme' })
    expect(
      (
        await h.pf.app.inject({
          method: 'GET',
          url: '/v1/images',
          headers: { authorization: `Bearer ${hs}` },
        })
      ).statusCode,
    ).toBe(401)
  })
})

describe('upload quotas', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_QUOTA_MAX_IMAGES: '2' })
  })
  afterAll(() => h.close())

  it('refuse the upload past the quota with 403 QUOTA_EXCEEDED and keep nothing of it', async () => {
    for (let i = 0; i < 2; i++)
      expect((await h.upload(await makeJpeg(64 + i, 64), 'image/jpeg')).statusCode).toBe(202)
    const before = await h.leftovers()
    const res = await h.upload(await makeJpeg(99, 64), 'image/jpeg')
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('QUOTA_EXCEEDED')
    expect((await h.leftovers()).rows).toBe(before.rows)
    expect(
      (await h.pf.deps.store.list('images/')).filter((k) => k.endsWith('original')),
    ).toHaveLength(2)
    // Another owner has a quota of their own.
    expect((await h.upload(await makeJpeg(), 'image/jpeg', {}, h.bob)).statusCode).toBe(202)
  })
})
