import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { commonAppDeps } from '../../test/fixtures/app-deps.js'
import type { Principal } from '../auth/principal.js'
import { loadConfig } from '../config/load.js'
import type { Image } from '../domain/image.js'
import { createUrlSigner } from '../domain/signed-urls.js'
import { AppError } from '../errors/index.js'
import type { ImageService, UploadOptions } from '../images/image-service.js'
import { type AppDeps, buildApp } from './app.js'

const ALICE: Principal = {
  ownerId: 'alice',
  scopes: ['images:read', 'images:write'],
  via: 'api-key',
}
const READER: Principal = { ownerId: 'reader', scopes: ['images:read'], via: 'api-key' }
const ADMIN: Principal = { ownerId: 'ops', scopes: ['admin'], via: 'jwt' }
const CREDENTIALS: Record<string, Principal> = {
  'Bearer alice': ALICE,
  'Bearer reader': READER,
  'Bearer admin': ADMIN,
}

/** Two fixed credentials; anything else is refused as the real authenticator refuses it. */
async function authenticate(authorization: string | undefined): Promise<Principal> {
  const principal = CREDENTIALS[authorization ?? '']
  if (!principal) throw new AppError('UNAUTHENTICATED', 'The credential is not valid')
  return principal
}

const IMAGE: Image = {
  id: 'img1',
  ownerId: 'alice',
  visibility: 'public',
  bucket: 7,
  status: 'queued',
  format: 'jpeg',
  width: 640,
  height: 480,
  frames: 1,
  bytes: 1234,
  sha256: 'ab'.repeat(32),
  placeholder: null,
  dominantColor: null,
  focalPoint: null,
  failure: null,
  attempts: 0,
  createdAt: Date.UTC(2024, 0, 2, 3, 4, 5),
  updatedAt: Date.UTC(2024, 0, 2, 3, 4, 6),
  variants: [],
}

/**
 * One app for the file (building one takes a while): the use case behind it is swapped per test
 * through `images`, whose methods the routes look up on every call.
 */
const images: Partial<ImageService> = {}
const _config = loadConfig({})
const signer = createUrlSigner([{ kid: 'k1', secret: 'unit-test-secret' }], 300)
const deps: AppDeps = {
  ...commonAppDeps(signer),
  images: images as ImageService,
  authenticate,
  store: { get: async () => null } as unknown as AppDeps['store'],
  eraseOwner: (ownerId) => erase(ownerId),
}
let erase = async (ownerId: string) => ({ ownerId, resumed: false, images: 0, apiKeys: 0 })

let app: FastifyInstance
beforeAll(async () => {
  app = await buildApp(deps)
})
afterAll(() => app.close())

/** The app with exactly these use case methods; any other one is missing (a 500 if called). */
function withImages(methods: Partial<ImageService> = {}): FastifyInstance {
  for (const key of Object.keys(images)) delete images[key as keyof ImageService]
  Object.assign(images, methods)
  return app
}

const as = (who: 'alice' | 'reader' | 'admin') => ({ authorization: `Bearer ${who}` })

describe('buildApp: errors', () => {
  it('answers an AppError as problem+json with its status, stable code and request id', async () => {
    const getOwned = vi.fn(async (): Promise<Image> => {
      throw new AppError('IMAGE_NOT_FOUND', 'No image x')
    })
    const res = await withImages({ getOwned }).inject({ url: '/v1/images/x', headers: as('alice') })
    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.json()).toEqual({
      type: 'urn:pixelflow:error:image-not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No image x',
      code: 'IMAGE_NOT_FOUND',
      instance: '/v1/images/x',
      requestId: res.headers['x-request-id'],
    })
    expect(getOwned).toHaveBeenCalledWith('alice', 'x')
  })

  it('hides the cause of an unknown failure behind a 500 INTERNAL', async () => {
    const getOwned = async (): Promise<Image> => {
      throw new Error('password=hunter2')
    }
    const res = await withImages({ getOwned }).inject({
      url: '/v1/images/x',
      headers: as('alice'),
    })
    expect(res.statusCode).toBe(500)
    expect(res.json()).toMatchObject({ code: 'INTERNAL', detail: 'An internal error occurred' })
    expect(res.body).not.toContain('hunter2')
  })

  it('answers an unknown route with a 404 ROUTE_NOT_FOUND problem', async () => {
    const res = await withImages().inject({ url: '/nowhere' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND', instance: '/nowhere' })
  })
})

describe('buildApp: request ids', () => {
  it("echoes a caller's plain x-request-id in the header and the problem", async () => {
    const res = await withImages().inject({
      url: '/v1/images',
      headers: { 'x-request-id': 'req-42.a:b' },
    })
    expect(res.headers['x-request-id']).toBe('req-42.a:b')
    expect(res.json().requestId).toBe('req-42.a:b')
  })

  it.each([
    ['spaces', 'two words'],
    ['markup', '<script>'],
    ['over 128 characters', 'a'.repeat(129)],
  ])('replaces an x-request-id with %s by a fresh UUID', async (_, id) => {
    const res = await withImages().inject({ url: '/healthz', headers: { 'x-request-id': id } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-request-id']).not.toBe(id)
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/)
  })
})

describe('buildApp: /v1 authentication', () => {
  it('refuses a missing credential with 401 and WWW-Authenticate, before the route runs', async () => {
    const list = vi.fn()
    const res = await withImages({ list }).inject({ url: '/v1/images' })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer')
    expect(res.json()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' })
    expect(list).not.toHaveBeenCalled()
  })

  it('refuses a credential without the route scope with 403 INSUFFICIENT_SCOPE', async () => {
    const remove = vi.fn()
    const api = withImages({ delete: remove })
    const res = await api.inject({ method: 'DELETE', url: '/v1/images/x', headers: as('reader') })
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('INSUFFICIENT_SCOPE')
    expect(remove).not.toHaveBeenCalled()
  })

  it('serves /healthz outside /v1, without credentials', async () => {
    const res = await withImages().inject({ url: '/healthz' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })
})

describe('buildApp: schema validation', () => {
  it('refuses a query out of its schema with 400 BAD_REQUEST naming the field', async () => {
    const list = vi.fn()
    const res = await withImages({ list }).inject({
      url: '/v1/images?limit=0',
      headers: as('alice'),
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({
      code: 'BAD_REQUEST',
      detail: 'querystring/limit must be >= 1',
    })
    expect(list).not.toHaveBeenCalled()
  })

  it('refuses a visibility outside public|private on upload', async () => {
    const upload = vi.fn()
    const res = await withImages({ upload }).inject({
      method: 'POST',
      url: '/v1/images?visibility=secret',
      headers: { ...as('alice'), 'content-type': 'image/jpeg' },
      payload: Buffer.from('jpeg'),
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('BAD_REQUEST')
    expect(upload).not.toHaveBeenCalled()
  })

  it('hands the handler the query as the schema types it: a number, with its default', async () => {
    const list = vi.fn(async () => ({ images: [], next: null }))
    const api = withImages({ list })
    await api.inject({ url: '/v1/images?limit=5&cursor=c1', headers: as('alice') })
    await api.inject({ url: '/v1/images', headers: as('alice') })
    expect(list.mock.calls).toEqual([
      ['alice', 5, 'c1'],
      ['alice', 20, undefined],
    ])
  })
})

describe('buildApp: routes', () => {
  it('uploads a raw body: 202, Location, the view, and an accepted upload counted', async () => {
    const upload = vi.fn(async (_owner: string, body: Readable, _options: UploadOptions) => {
      body.resume()
      return { image: IMAGE, created: true, outcome: 'created' as const }
    })
    const accepted = async () =>
      (await deps.metrics.uploads.get()).values.find((v) => v.labels.result === 'accepted')?.value
    const before = await accepted()
    const res = await withImages({ upload }).inject({
      method: 'POST',
      url: '/v1/images',
      headers: { ...as('alice'), 'content-type': 'image/jpeg', 'idempotency-key': 'k-1' },
      payload: Buffer.from('not really a jpeg'),
    })
    expect(res.statusCode).toBe(202)
    expect(res.headers.location).toBe('https://img.test/v1/images/img1')
    expect(res.body).toBe(
      '{"id":"img1","status":"queued","visibility":"public","format":"jpeg","width":640,' +
        `"height":480,"bytes":1234,"frames":1,"sha256":"${IMAGE.sha256}","placeholder":null,` +
        '"dominantColor":null,"focalPoint":null,"failure":null,"attempts":0,"createdAt":"2024-01-02T03:04:05.000Z",' +
        '"updatedAt":"2024-01-02T03:04:06.000Z","variants":[],' +
        '"links":{"self":"https://img.test/v1/images/img1"}}',
    )
    // No visibility asked for: none is passed (the upload's default, public, applies).
    expect(upload.mock.calls[0]?.[2]).toEqual({
      declaredType: 'image/jpeg',
      idempotencyKey: 'k-1',
      visibility: undefined,
    })
    expect((await accepted()) ?? 0).toBe((before ?? 0) + 1)
  })

  it('deletes with 204 and no body, also when the request carries an image body', async () => {
    const remove = vi.fn(async () => {})
    const res = await withImages({ delete: remove }).inject({
      method: 'DELETE',
      url: '/v1/images/img1',
      headers: { ...as('alice'), 'content-type': 'image/png' },
      payload: Buffer.from('png'),
    })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    expect(remove).toHaveBeenCalledWith('alice', 'img1')
  })

  it('lists across owners only for admin, with ownerId on each item', async () => {
    const listAll = vi.fn(async () => ({ images: [IMAGE], next: 'img1' }))
    const api = withImages({ listAll })
    const asAlice = await api.inject({ url: '/v1/admin/images', headers: as('alice') })
    expect(asAlice.statusCode).toBe(403)
    const res = await api.inject({ url: '/v1/admin/images?limit=1', headers: as('admin') })
    expect(res.statusCode).toBe(200)
    const page = res.json()
    expect(page.items.map((i: Image) => [i.id, i.ownerId])).toEqual([['img1', 'alice']])
    expect(Object.keys(page.items[0]).at(-1)).toBe('ownerId')
    expect(page.links.next).toBe('https://img.test/v1/admin/images?limit=1&cursor=img1')
  })
})

describe('buildApp: erasing an owner', () => {
  it('erases only for admin, and answers what was erased', async () => {
    const calls: string[] = []
    erase = async (ownerId) => {
      calls.push(ownerId)
      return { ownerId, resumed: true, images: 3, apiKeys: 2 }
    }
    const api = withImages()
    const asAlice = await api.inject({
      method: 'DELETE',
      url: '/v1/admin/owners/bob',
      headers: as('alice'),
    })
    expect(asAlice.statusCode).toBe(403)
    expect(calls).toEqual([])
    const res = await api.inject({
      method: 'DELETE',
      url: '/v1/admin/owners/bob',
      headers: as('admin'),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ ownerId: 'bob', resumed: true, images: 3, apiKeys: 2 })
    expect(res.headers['cache-control']).toBe('no-store')
    expect(calls).toEqual(['bob'])
  })
})

describe('buildApp: security headers', () => {
  it('sends nosniff, no-referrer and DENY framing on API responses', async () => {
    const res = await withImages().inject({ url: '/v1/images' })
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    })
    expect(res.headers['content-security-policy']).toBeUndefined()
  })

  it('sandboxes delivered bytes and lets other origins embed them', async () => {
    const getPublic = async (): Promise<Image> => {
      throw new AppError('IMAGE_NOT_FOUND', 'No image')
    }
    const res = await withImages({ getPublic }).inject({ url: '/i/img1/thumb.webp' })
    expect(res.statusCode).toBe(404)
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'cross-origin-resource-policy': 'cross-origin',
    })
    expect(res.headers['x-frame-options']).toBeUndefined()
  })

  it('lets the docs page be framed', async () => {
    const res = await withImages().inject({ url: '/docs/' })
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['x-frame-options']).toBeUndefined()
  })
})
