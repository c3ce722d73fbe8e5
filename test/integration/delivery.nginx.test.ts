import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTransformSigner } from '../../src/domain/signed-urls.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { type PixelflowNginx, startPixelflowNginx } from '../fixtures/pixelflow-nginx.js'

const NGINX = process.env.PIXELFLOW_TEST_NGINX ?? ''
if (!NGINX)
  console.info(
    'delivery.nginx.test.ts skipped: install nginx-light and set PIXELFLOW_TEST_NGINX=/usr/sbin/nginx to run it',
  )

const SECRET = 'nginx-test-secret-0123456789'
const signer = createTransformSigner([{ kid: 'k1', secret: SECRET }])
const sign = (canonical: string, id: string) => signer.sign(`/t/${canonical}/${id}`)

/**
 * The shipped deploy/nginx/pixelflow.conf in front of the whole pipeline (a real nginx, a real
 * Pixelflow on its port, the nginx purger on nginx's cache folder): what the issue asks of the
 * CDN setup, shown on real requests.
 */
describe.skipIf(!NGINX)('Pixelflow behind the shipped nginx cache', () => {
  let dir: string
  let h: Harness
  let nginx: PixelflowNginx
  let id: string

  /** Every transform result the API produced (rendered, stored, shared): one per request it got. */
  async function originHits(): Promise<number> {
    const { values } = await h.pf.deps.metrics.transforms.get()
    return values.reduce((sum, v) => sum + v.value, 0)
  }
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${nginx.url}${path}`, { headers })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-delivery-nginx-'))
    await chmod(dir, 0o755) // nginx's workers run as another user and must reach the cache
    const cacheDir = join(dir, 'cache')
    h = await startHarness({
      PIXELFLOW_URL_SIGNING_KEYS: `k1:${SECRET}`,
      PIXELFLOW_PRESETS: 'thumb:160,medium:400',
      PIXELFLOW_CDN_PURGE: 'nginx',
      PIXELFLOW_NGINX_CACHE_DIR: cacheDir,
      PIXELFLOW_TRUST_PROXY: 'loopback',
    })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.pf.app.server.address() as { port: number }
    nginx = await startPixelflowNginx({
      upstreams: [`127.0.0.1:${port}`],
      values: { NGINX_CACHE_DIR: cacheDir },
    })
    id = (await h.upload(await makeJpeg(1200, 800), 'image/jpeg')).json().id
    await h.waitSettled(id)
  }, 60_000)
  afterAll(async () => {
    await nginx?.stop()
    await h?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers the second request for a transform from the cache (MISS, then HIT)', async () => {
    const url = `/t/${sign('w:300,f:webp', id)}/w:300,f:webp/${id}`
    const first = await get(url)
    expect([first.status, first.headers.get('x-cache-status')]).toEqual([200, 'MISS'])
    const before = await originHits()
    const second = await get(url)
    expect([second.status, second.headers.get('x-cache-status')]).toEqual([200, 'HIT'])
    expect(second.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(Buffer.from(await second.arrayBuffer())).toEqual(Buffer.from(await first.arrayBuffer()))
    expect(await originHits()).toBe(before)
  })

  it('sends 50 concurrent misses for one new transform to the API once', async () => {
    const url = `/t/${sign('w:444,f:avif', id)}/w:444,f:avif/${id}`
    const before = await originHits()
    const all = await Promise.all(Array.from({ length: 50 }, () => get(url)))
    const bodies = await Promise.all(all.map(async (r) => Buffer.from(await r.arrayBuffer())))
    expect(new Set(all.map((r) => r.status))).toEqual(new Set([200]))
    expect(new Set(bodies.map((b) => b.length)).size).toBe(1)
    expect((await sharp(bodies[0]!).metadata()).width).toBe(444)
    expect(await originHits()).toBe(before + 1)
  })

  it('keys negotiated URLs on the Accept token: AVIF, WebP and JPEG each once, any spelling', async () => {
    const url = `/i/${id}/medium`
    const avif = await get(url, { accept: 'image/avif,image/webp,*/*;q=0.8' })
    expect(avif.headers.get('content-type')).toBe('image/avif')
    expect(avif.headers.get('vary')).toBe('Accept')
    const sameToken = await get(url, { accept: 'IMAGE/AVIF' })
    expect([
      sameToken.headers.get('x-cache-status'),
      sameToken.headers.get('content-type'),
    ]).toEqual(['HIT', 'image/avif'])
    const webp = await get(url, { accept: 'image/webp,*/*' })
    expect([webp.headers.get('x-cache-status'), webp.headers.get('content-type')]).toEqual([
      'MISS',
      'image/webp',
    ])
    const jpeg = await get(url, { accept: 'text/html' })
    expect(jpeg.headers.get('content-type')).toBe('image/jpeg')
  })

  it('stops serving a deleted image through the cache at once: the purger removes its URLs', async () => {
    const doomed = (await h.upload(await makeJpeg(800, 600), 'image/jpeg')).json().id
    const view = await h.waitSettled(doomed)
    const versioned = new URL(view.variants.find((v: any) => v.name === 'thumb').url).pathname
    expect(versioned).toMatch(/\/thumb\.[0-9a-f]{8}\.(webp|jpg)$/)
    const urls = [
      versioned,
      `/i/${doomed}/thumb.webp`,
      `/i/${doomed}/thumb`,
      `/t/${sign('w:200,f:webp', doomed)}/w:200,f:webp/${doomed}`,
      `/t/${sign('w:200,f:webp', doomed)}/w:200/${doomed}.webp`,
      `/t/${sign('w:120', doomed)}/w:120/${doomed}`,
    ]
    for (const url of urls) {
      await get(url, { accept: 'image/webp' })
      const cached = await get(url, { accept: 'image/webp' })
      expect([url, cached.status, cached.headers.get('x-cache-status')]).toEqual([url, 200, 'HIT'])
    }
    const deleted = await fetch(`${nginx.url}/v1/images/${doomed}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${h.alice}` },
    })
    expect(deleted.status).toBe(204)
    for (const url of urls) {
      const after = await get(url, { accept: 'image/webp' })
      expect([url, after.status, after.headers.get('x-cache-status')]).toEqual([url, 404, 'MISS'])
    }
  })

  it("purges an erased owner's images from the cache too", async () => {
    const key = (await h.pf.deps.apiKeys.create('erin')).key
    const upload = await fetch(`${nginx.url}/v1/images`, {
      method: 'POST',
      body: new Uint8Array(await makeJpeg(640, 480)),
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
    })
    const erinsImage = (await upload.json()).id as string
    const url = `/i/${erinsImage}/thumb.webp`
    // Until it is ready: 409 answers are never stored, the first 200 is.
    for (let i = 0; i < 200 && (await get(url)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 50))
    expect((await get(url)).headers.get('x-cache-status')).toBe('HIT')
    const admin = (await h.pf.deps.apiKeys.create('ops', ['admin'])).key
    const erased = await fetch(`${nginx.url}/v1/admin/owners/erin`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(erased.status).toBe(200)
    const after = await get(url)
    expect([after.status, after.headers.get('x-cache-status')]).toEqual([404, 'MISS'])
  })
})
