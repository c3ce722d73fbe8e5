import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { negotiateFormat } from '../../src/domain/formats.js'
import { createPurger } from '../../src/purge/create-purger.js'
import { cacheFilePath, cacheKeys, parseLevels } from '../../src/purge/drivers/nginx.js'
import { isNegotiated, type Purger } from '../../src/purge/purger.js'
import { eventually } from '../fixtures/eventually.js'
import { type PixelflowNginx, startPixelflowNginx } from '../fixtures/pixelflow-nginx.js'

const NGINX = process.env.PIXELFLOW_TEST_NGINX ?? ''
if (!NGINX)
  console.info(
    'purge.nginx.test.ts skipped: install nginx-light and set PIXELFLOW_TEST_NGINX=/usr/sbin/nginx to run it',
  )

interface Seen {
  url: string
  accept: string | undefined
  ifNoneMatch: string | undefined
  status: number
}

/**
 * A stand-in for Pixelflow's delivery routes, counting what reaches it. `/i/…` and `/t/…` answer
 * like the origin: immutable, a strong ETag and 304 on it, and for a URL without an extension a
 * body in the format negotiated from Accept, with Vary: Accept. Path words steer it: `private-`
 * answers `private` (as does any `?sig=`), `missing-` 404, `expiring-` adds X-Accel-Expires: 1
 * (the entry goes stale after a second, the only way to age one without waiting 10 minutes).
 */
class Origin {
  readonly seen: Seen[] = []
  /** pathname → how long to wait before answering. */
  readonly slow = new Map<string, number>()
  /** pathnames answered 404 from now on (a deleted image). */
  readonly deleted = new Set<string>()
  port = 0
  private server: Server = this.make()

  async start(port = 0): Promise<void> {
    this.server = this.make()
    this.server.listen(port, '127.0.0.1')
    await once(this.server, 'listening')
    this.port = (this.server.address() as AddressInfo).port
  }

  /** Refuses connections until up(): nothing listens on the port. */
  async down(): Promise<void> {
    const closed = once(this.server, 'close')
    this.server.close()
    this.server.closeAllConnections()
    await closed
  }

  up(): Promise<void> {
    return this.start(this.port)
  }

  /** How many requests for `url` (path and query) reached the origin. */
  count(url: string): number {
    return this.seen.filter((s) => s.url === url).length
  }

  private make(): Server {
    // Longer than nginx's upstream keepalive_timeout (20 s), as Pixelflow's 30 s idle cut is.
    const server = createServer({ keepAliveTimeout: 30_000 }, async (req, res) => {
      const url = new URL(req.url!, 'http://origin')
      const seen: Seen = {
        url: req.url!,
        accept: req.headers.accept,
        ifNoneMatch: req.headers['if-none-match'],
        status: 200,
      }
      this.seen.push(seen)
      await sleep(this.slow.get(url.pathname) ?? 0)
      if (!/^\/[it]\//.test(url.pathname)) return void res.end('api')
      if (url.pathname.includes('/missing-') || this.deleted.has(url.pathname)) {
        seen.status = 404
        res.writeHead(404, { 'content-type': 'application/problem+json' })
        return void res.end('{"code":"IMAGE_NOT_FOUND"}')
      }
      const negotiated = isNegotiated(url.pathname)
      const format = negotiated
        ? negotiateFormat(req.headers.accept)
        : url.pathname.slice(url.pathname.lastIndexOf('.') + 1)
      const body = `${url.pathname} as ${format}`
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`
      const isPrivate = url.searchParams.has('sig') || url.pathname.includes('/private-')
      const headers: Record<string, string> = {
        'content-type': `image/${format}`,
        'cache-control': isPrivate ? 'private, max-age=300' : 'public, max-age=31536000, immutable',
        etag,
        ...(negotiated ? { vary: 'Accept' } : {}),
      }
      if (req.headers['if-none-match'] === etag) {
        seen.status = 304
        res.writeHead(304, headers)
        return void res.end()
      }
      if (url.pathname.includes('/expiring-')) headers['x-accel-expires'] = '1'
      res.writeHead(200, headers)
      res.end(body)
    })
    return server
  }
}

/**
 * How long after an `expiring-` answer its entry is stale for sure: X-Accel-Expires: 1 is one
 * second from nginx's whole-second clock, so up to two seconds.
 */
const EXPIRED_MS = 2200

describe.skipIf(!NGINX)('nginx in front of the origin (deploy/nginx/pixelflow.conf)', () => {
  const origin = new Origin()
  let nginx: PixelflowNginx
  let purger: Purger

  beforeAll(async () => {
    await origin.start()
    nginx = await startPixelflowNginx({ upstreams: [`127.0.0.1:${origin.port}`], binary: NGINX })
    purger = await createPurger({
      driver: 'nginx',
      cacheDir: nginx.cacheDir,
      levels: nginx.cacheLevels,
    })
  })
  afterAll(async () => {
    await purger?.close()
    await nginx?.stop()
    await origin.down().catch(() => {})
  })

  /** A fresh image id per test: entries of one test never answer another. */
  const newId = () => randomBytes(8).toString('hex')

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${nginx.url}${path}`, { headers })
    return {
      status: res.status,
      cache: res.headers.get('x-cache-status'),
      headers: res.headers,
      body: await res.text(),
    }
  }

  /** The files of `path`'s entries exist (nginx moves a response into place once it is complete). */
  async function expectStored(path: string, tokens = 1): Promise<void> {
    const files = cacheKeys(path).map((key) =>
      cacheFilePath(nginx.cacheDir, parseLevels(nginx.cacheLevels), key),
    )
    await eventually(() => files.filter((file) => existsSync(file)).length === tokens, {
      timeoutMs: 5000,
      message: `${tokens} cache file(s) of ${path}`,
    })
  }

  it('stores a variant: MISS, then HIT without reaching the origin; headers pass through', async () => {
    const path = `/i/${newId()}/thumb.webp`
    const first = await get(path)
    expect([first.status, first.cache]).toEqual([200, 'MISS'])
    expect(first.body).toBe(`${path} as webp`)
    const second = await get(path)
    expect([second.status, second.cache, second.body]).toEqual([200, 'HIT', first.body])
    expect(second.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'))
    // A conditional request is answered by nginx from its copy.
    const conditional = await get(path, { 'if-none-match': first.headers.get('etag')! })
    expect([conditional.status, conditional.cache]).toEqual([304, 'HIT'])
    expect(origin.count(path)).toBe(1)
    // Only /i/ and /t/ are cached.
    await get('/v1/images')
    await get('/v1/images')
    expect(origin.count('/v1/images')).toBe(2)
  })

  it('sends 50 concurrent requests for one new URL to the origin once (proxy_cache_lock)', async () => {
    const path = `/t/s1g/w:100/${newId()}.avif`
    origin.slow.set(path, 1500)
    const answers = await Promise.all(Array.from({ length: 50 }, () => get(path)))
    expect(origin.count(path)).toBe(1)
    for (const answer of answers)
      expect([answer.status, answer.body]).toEqual([200, `${path} as avif`])
    expect(answers.filter((a) => a.cache === 'MISS')).toHaveLength(1)
  })

  it('keys a negotiated URL by Accept token: spellings of one token share an entry, tokens do not', async () => {
    const path = `/i/${newId()}/thumb`
    const webp1 = await get(path, { accept: 'image/webp,*/*' })
    const webp2 = await get(path, { accept: 'text/html, image/WebP;q=0.8, image/png' })
    expect([webp1.cache, webp2.cache]).toEqual(['MISS', 'HIT'])
    expect(webp2.body).toBe(`${path} as webp`)
    expect(webp2.headers.get('vary')).toBe('Accept')
    const avif1 = await get(path, { accept: 'image/avif,image/webp,*/*' })
    const avif2 = await get(path, { accept: 'image/avif' })
    expect([avif1.cache, avif2.cache, avif2.body]).toEqual(['MISS', 'HIT', `${path} as avif`])
    const jpeg = await get(path, { accept: '*/*' })
    expect([jpeg.cache, jpeg.body]).toEqual(['MISS', `${path} as jpeg`])
    // The origin was asked once per token, with Accept reduced to that token.
    expect(origin.seen.filter((s) => s.url === path).map((s) => s.accept)).toEqual([
      'image/webp,image/jpeg',
      'image/avif,image/webp,image/jpeg',
      'image/jpeg',
    ])
    await expectStored(path, 3)

    // An explicit format is one entry whatever the client accepts.
    const explicit = `/i/${newId()}/thumb.png`
    expect((await get(explicit, { accept: 'image/avif' })).cache).toBe('MISS')
    expect((await get(explicit, { accept: 'image/webp' })).cache).toBe('HIT')
    expect((await get(explicit)).cache).toBe('HIT')
  })

  it('never stores a signed URL, a private answer or an error', async () => {
    const id = newId()
    const signed = `/i/${id}/thumb.webp?exp=4102444800&kid=k1&sig=abc123`
    for (let i = 0; i < 3; i++) {
      const answer = await get(signed)
      expect([answer.status, answer.cache]).toEqual([200, 'BYPASS'])
      expect(answer.headers.get('cache-control')).toBe('private, max-age=300')
    }
    expect(origin.count(signed)).toBe(3)
    // The unsigned URL was not filled by the signed answers.
    expect((await get(`/i/${id}/thumb.webp`)).cache).toBe('MISS')

    const privateAnswer = `/i/${id}/private-thumb.webp`
    expect((await get(privateAnswer)).cache).toBe('MISS')
    expect((await get(privateAnswer)).cache).toBe('MISS')
    expect(origin.count(privateAnswer)).toBe(2)

    const missing = `/i/${id}/missing-thumb.webp`
    expect((await get(missing)).status).toBe(404)
    expect((await get(missing)).status).toBe(404)
    expect(origin.count(missing)).toBe(2)
  })

  it('refreshes an expired entry with a 304, not the bytes again (proxy_cache_revalidate)', async () => {
    const path = `/i/${newId()}/expiring-thumb.webp`
    const first = await get(path)
    expect(first.cache).toBe('MISS')
    await sleep(EXPIRED_MS)
    // Expired: asked again with the ETag, answered 304, served from the entry.
    const refreshed = await get(path)
    expect([refreshed.status, refreshed.cache, refreshed.body]).toEqual([
      200,
      'REVALIDATED',
      first.body,
    ])
    const refresh = origin.seen.filter((s) => s.url === path)[1]!
    expect([refresh.ifNoneMatch, refresh.status]).toEqual([first.headers.get('etag'), 304])
    // Fresh again (for proxy_cache_valid's 10 minutes: the 304 carries no X-Accel-Expires).
    expect((await get(path)).cache).toBe('HIT')
    expect(origin.count(path)).toBe(2)
  })

  it('serves a cached copy while the origin is down (proxy_cache_use_stale)', async () => {
    const path = `/i/${newId()}/expiring-medium.webp`
    const first = await get(path)
    expect(first.cache).toBe('MISS')
    await sleep(EXPIRED_MS)
    await origin.down()
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await get(path)
        expect([answer.status, answer.body]).toEqual([200, first.body])
        expect(answer.cache).toBe('STALE')
      }
      // Nothing cached to fall back on: the origin really is down.
      expect((await get(`/i/${newId()}/thumb.webp`)).status).toBe(502)
    } finally {
      await origin.up()
    }
  })

  it('stops serving a deleted image once its entry expires, purged or not (no background refresh)', async () => {
    const path = `/i/${newId()}/expiring-large.webp`
    expect((await get(path)).cache).toBe('MISS')
    origin.deleted.add(path)
    expect((await get(path)).status).toBe(200)
    await sleep(EXPIRED_MS)
    // With proxy_cache_background_update on, these would all be `200 STALE`: the refresh's 404
    // is not stored, so the entry stays and is served stale again and again.
    const answers: string[] = []
    for (let i = 0; i < 3; i++) {
      const answer = await get(path)
      answers.push(`${answer.status} ${answer.cache}`)
    }
    expect(answers).toEqual(['404 EXPIRED', '404 EXPIRED', '404 EXPIRED'])
  })

  it('the nginx purger removes an explicit entry: the next request reaches the origin', async () => {
    const path = `/i/${newId()}/thumb.webp`
    await get(path)
    expect((await get(path)).cache).toBe('HIT')
    await expectStored(path)
    await purger.purge([path])
    const file = cacheFilePath(nginx.cacheDir, [1, 2], `${path}|`)
    expect(existsSync(file)).toBe(false)
    expect((await get(path)).cache).toBe('MISS')
    expect(origin.count(path)).toBe(2)
    // Stored again, as any new entry.
    expect((await get(path)).cache).toBe('HIT')
  })

  it("the nginx purger removes every Accept token's entry of a negotiated URL", async () => {
    const id = newId()
    const variant = `/i/${id}/thumb`
    const transform = `/t/s1g/w:100,f:auto/${id}`
    const accepts = ['image/avif', 'image/webp', 'image/png']
    for (const path of [variant, transform]) {
      for (const accept of accepts) await get(path, { accept })
      for (const accept of accepts) expect((await get(path, { accept })).cache).toBe('HIT')
      await expectStored(path, 3)
    }
    await purger.purge([variant, transform])
    for (const path of [variant, transform]) {
      for (const accept of accepts) expect((await get(path, { accept })).cache, accept).toBe('MISS')
      expect(origin.count(path)).toBe(6)
    }
  })

  it('purging paths that were never cached is fine', async () => {
    const id = newId()
    await expect(
      purger.purge([`/i/${id}/thumb.webp`, `/i/${id}/thumb`, `/t/s1g/w:1/${id}.jpeg`]),
    ).resolves.toBeUndefined()
    // And nginx is none the worse: a later request is a plain MISS.
    expect((await get(`/i/${id}/thumb.webp`)).cache).toBe('MISS')
  })
})
