import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { commonAppDeps } from '../../../../test/fixtures/app-deps.js'
import type { Image, Variant } from '../../../domain/image.js'
import { createUrlSigner } from '../../../domain/signed-urls.js'
import { AppError } from '../../../errors/index.js'
import type { ImageService } from '../../../images/image-service.js'
import type { ByteRange, ObjectStore } from '../../../storage/object-store.js'
import { type AppDeps, buildApp } from '../../app.js'

const BYTES = Buffer.from('0123456789')
const ETAG = '"v1-abc"'
const THUMB: Variant = {
  name: 'thumb',
  format: 'webp',
  width: 320,
  height: 240,
  bytes: BYTES.length,
  etag: ETAG,
  key: 'images/pub/thumb.webp',
  version: null,
}
/** The same variant made with versions: its key and URL name the preset's version. */
const VERSIONED: Variant = { ...THUMB, key: 'images/ver/thumb.0a1b2c3d.webp', version: '0a1b2c3d' }

function image(id: string, overrides: Partial<Image> = {}): Image {
  return {
    id,
    ownerId: 'alice',
    visibility: 'public',
    bucket: 1,
    status: 'ready',
    format: 'jpeg',
    width: 640,
    height: 480,
    frames: 1,
    bytes: 999,
    sha256: '00'.repeat(32),
    placeholder: null,
    dominantColor: null,
    focalPoint: null,
    failure: null,
    attempts: 1,
    createdAt: 0,
    updatedAt: 0,
    variants: [THUMB],
    ...overrides,
  }
}

const IMAGES = new Map(
  [
    image('pub'),
    image('priv', { visibility: 'private' }),
    image('wait', { status: 'queued' }),
    image('ver', { variants: [VERSIONED] }),
  ].map((i) => [i.id, i]),
)

/** Delivery needs only these three; the rest of the deps are inert. */
const images: Pick<ImageService, 'getPublic'> = {
  async getPublic(id) {
    const found = IMAGES.get(id)
    if (!found) throw new AppError('IMAGE_NOT_FOUND', `No image ${id}`)
    return found
  },
}
const reads: (ByteRange | undefined)[] = []
const store: Pick<ObjectStore, 'get'> = {
  async get(key, range) {
    reads.push(range)
    if (key !== THUMB.key && key !== VERSIONED.key) return null
    return Readable.from([range ? BYTES.subarray(range.start, range.end + 1) : BYTES])
  },
}
const signer = createUrlSigner([{ kid: 'k1', secret: 'unit-test-secret' }], 300)

let app: FastifyInstance
beforeAll(async () => {
  const deps: AppDeps = {
    ...commonAppDeps(signer),
    images: images as ImageService,
    store: store as ObjectStore,
    authenticate: async () => {
      throw new AppError('UNAUTHENTICATED', 'not in these tests')
    },
  }
  app = await buildApp(deps)
})
afterAll(() => app.close())
beforeEach(() => {
  reads.length = 0
})

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ url, headers })

describe('GET /i/:id/:file', () => {
  it('a versioned URL is immutable; the unversioned one follows the preset for an hour; another version is gone', async () => {
    const versioned = await get('/i/ver/thumb.0a1b2c3d.webp')
    expect(versioned.statusCode).toBe(200)
    expect(versioned.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(versioned.rawPayload).toEqual(BYTES)
    const current = await get('/i/ver/thumb.webp')
    expect(current.statusCode).toBe(200)
    expect(current.headers['cache-control']).toBe('public, max-age=3600')
    expect(current.rawPayload).toEqual(BYTES)
    const negotiated = await get('/i/ver/thumb', { accept: 'image/webp,*/*' })
    expect(negotiated.headers['cache-control']).toBe('public, max-age=3600')
    for (const gone of ['thumb.ffffffff.webp', 'thumb.0a1b2c3d.jpg', 'thumb.x.0a1b2c3d.webp']) {
      const res = await get(`/i/ver/${gone}`)
      expect(res.statusCode, gone).toBe(404)
      expect(res.json().code).toBe('VARIANT_NOT_FOUND')
    }
    // A variant from before versions keeps the immutable caching its URL was served with.
    expect((await get('/i/pub/thumb.webp')).headers['cache-control']).toContain('immutable')
  })

  it('sends a public variant whole, immutable for a year, with its strong ETag', async () => {
    const res = await get('/i/pub/thumb.webp')
    expect(res.statusCode).toBe(200)
    expect(res.rawPayload).toEqual(BYTES)
    expect(res.headers).toMatchObject({
      'cache-control': 'public, max-age=31536000, immutable',
      etag: ETAG,
      'accept-ranges': 'bytes',
      'content-type': 'image/webp',
      'content-length': '10',
    })
    expect(reads).toEqual([undefined])
  })

  it.each([ETAG, `W/${ETAG}`, `"other", ${ETAG}`, '*'])(
    'answers 304 without reading the store for If-None-Match: %s',
    async (tag) => {
      const res = await get('/i/pub/thumb.webp', { 'if-none-match': tag })
      expect(res.statusCode).toBe(304)
      expect(res.body).toBe('')
      expect(res.headers.etag).toBe(ETAG)
      expect(reads).toEqual([])
    },
  )

  it('sends the whole body when If-None-Match names another version', async () => {
    const res = await get('/i/pub/thumb.webp', { 'if-none-match': '"v0-old"' })
    expect(res.statusCode).toBe(200)
  })

  it('answers one satisfiable range with 206, Content-Range and only those bytes', async () => {
    const res = await get('/i/pub/thumb.webp', { range: 'bytes=2-5' })
    expect(res.statusCode).toBe(206)
    expect(res.headers['content-range']).toBe('bytes 2-5/10')
    expect(res.headers['content-length']).toBe('4')
    expect(res.body).toBe('2345')
    expect(reads).toEqual([{ start: 2, end: 5 }])
  })

  it('answers a suffix range from the end', async () => {
    const res = await get('/i/pub/thumb.webp', { range: 'bytes=-3' })
    expect(res.statusCode).toBe(206)
    expect(res.headers['content-range']).toBe('bytes 7-9/10')
    expect(res.body).toBe('789')
  })

  it.each([
    ['several ranges', { range: 'bytes=0-1,5-6' }],
    ['a malformed range', { range: 'pages=1-2' }],
    ['a stale If-Range', { range: 'bytes=2-5', 'if-range': '"v0-old"' }],
  ])('sends the whole body for %s', async (_, headers) => {
    const res = await get('/i/pub/thumb.webp', headers)
    expect(res.statusCode).toBe(200)
    expect(res.rawPayload).toEqual(BYTES)
  })

  it('refuses a range past the end with 416, Content-Range */size and a problem', async () => {
    const res = await get('/i/pub/thumb.webp', { range: 'bytes=50-60' })
    expect(res.statusCode).toBe(416)
    expect(res.headers['content-range']).toBe('bytes */10')
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8')
    expect(res.json()).toMatchObject({ code: 'RANGE_NOT_SATISFIABLE', status: 416 })
    expect(reads).toEqual([])
  })

  it('answers 409 VARIANT_NOT_READY while the image is processed', async () => {
    const res = await get('/i/wait/thumb.webp')
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('VARIANT_NOT_READY')
  })

  it.each(['/i/pub/huge.webp', '/i/pub/thumb.png', '/i/pub/thumb', '/i/pub/.webp'])(
    'answers 404 VARIANT_NOT_FOUND for %s',
    async (url) => {
      const res = await get(url)
      expect(res.statusCode).toBe(404)
      expect(res.json().code).toBe('VARIANT_NOT_FOUND')
    },
  )

  it('refuses an id longer than its schema allows with 400 BAD_REQUEST', async () => {
    const res = await get(`/i/${'x'.repeat(65)}/thumb.webp`)
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('BAD_REQUEST')
  })
})

describe('GET /i/:id/:file of a private image', () => {
  it('answers an unsigned URL exactly as for a missing image: 404 IMAGE_NOT_FOUND', async () => {
    const res = await get('/i/priv/thumb.webp')
    expect(res.statusCode).toBe(404)
    expect(res.json().code).toBe('IMAGE_NOT_FOUND')
    const missing = await get('/i/nope/thumb.webp')
    expect(missing.statusCode).toBe(404)
    expect(missing.json().code).toBe('IMAGE_NOT_FOUND')
  })

  it('serves a signed URL, cacheable privately until it expires', async () => {
    const res = await get(signer.sign('/i/priv/thumb.webp'))
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toMatch(/^private, max-age=(29\d|300)$/)
  })

  it('refuses a URL signed for another path', async () => {
    const query = signer.sign('/i/priv/other.webp').split('?')[1]
    const res = await get(`/i/priv/thumb.webp?${query}`)
    expect(res.json().code).toBe('SIGNATURE_INVALID')
  })

  it('refuses an expired signature with 403 URL_EXPIRED', async () => {
    const res = await get(signer.sign('/i/priv/thumb.webp', Date.now() - 301_000))
    expect(res.statusCode).toBe(403)
    expect(res.json().code).toBe('URL_EXPIRED')
  })
})
