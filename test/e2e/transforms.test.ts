import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import sharp from 'sharp'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { createTransformSigner, createUrlSigner } from '../../src/domain/signed-urls.js'
import { createPixelflow, type Pixelflow } from '../../src/start/pixelflow.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeHalves, makeJpeg, makePngAlpha } from '../fixtures/images.js'

const KEYS = 'k2:second-secret-0123456789,k1:first-secret-0123456789'
const ENV = {
  PIXELFLOW_URL_SIGNING_KEYS: KEYS,
  PIXELFLOW_UNSIGNED_PRESETS: 'thumb',
  PIXELFLOW_PRESETS: 'thumb:160,medium:400',
}
const signer = createTransformSigner([
  { kid: 'k2', secret: 'second-secret-0123456789' },
  { kid: 'k1', secret: 'first-secret-0123456789' },
])
const oldSigner = createTransformSigner([{ kid: 'k1', secret: 'first-secret-0123456789' }])
const urls = createUrlSigner([{ kid: 'k2', secret: 'second-secret-0123456789' }], 300)
const sign = (canonical: string, id: string, s = signer) => s.sign(`/t/${canonical}/${id}`)

/** Transform results by kind, from the process's own counter. */
async function renders(pf: Pixelflow): Promise<Record<string, number>> {
  const { values } = await pf.deps.metrics.transforms.get()
  return Object.fromEntries(values.map((v) => [v.labels.result as string, v.value]))
}

describe('on-the-fly transforms through the whole pipeline', () => {
  let h: Harness
  let id: string
  const get = (url: string, headers: Record<string, string> = {}) =>
    h.pf.app.inject({ url, headers })

  beforeAll(async () => {
    h = await startHarness(ENV)
    id = (await h.upload(await makeJpeg(1200, 800), 'image/jpeg')).json().id
    await h.waitSettled(id)
  })
  afterAll(() => h.close())

  it('renders a signed transform at the asked size and format, immutable and with a strong ETag', async () => {
    const res = await get(`/t/${sign('w:300,h:300,f:webp', id)}/w:300,h:300,f:webp/${id}`)
    expect(res.statusCode).toBe(200)
    expect(res.headers).toMatchObject({
      'content-type': 'image/webp',
      'cache-control': 'public, max-age=31536000, immutable',
    })
    expect(res.headers.vary).toBeUndefined()
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{24}"$/)
    const meta = await sharp(res.rawPayload).metadata()
    expect([meta.width, meta.height, meta.format]).toEqual([300, 300, 'webp'])
  })

  it('serves other spellings of one request from the same derived object, signed once', async () => {
    const sig = sign('w:250,h:100,f:webp', id)
    const first = await get(`/t/${sig}/w:250,h:100,f:webp/${id}`)
    const before = await renders(h.pf)
    const spellings = [
      `/t/${sig}/h:100,w:250/${id}.webp`,
      `/t/${sig}/height:0100,width:250,fit:cover,format:webp/${id}`,
      `/t/${sig}/W:250,H:100,g:centre,dpr:1/${id}.WEBP`,
    ]
    for (const url of spellings) {
      const res = await get(url)
      expect([url, res.statusCode, res.headers.etag]).toEqual([url, 200, first.headers.etag])
      expect(res.rawPayload.equals(first.rawPayload)).toBe(true)
    }
    const after = await renders(h.pf)
    expect(after.rendered).toBe(before.rendered)
    expect(after.stored).toBe((before.stored ?? 0) + spellings.length)
  })

  it('answers 304 to the ETag without rendering or reading', async () => {
    // The extension is the format: the signature covers w:120,f:png.
    const url = `/t/${sign('w:120,f:png', id)}/w:120/${id}.png`
    const first = await get(url)
    expect(first.statusCode).toBe(200)
    const before = await renders(h.pf)
    const res = await get(url, { 'if-none-match': first.headers.etag as string })
    expect(res.statusCode).toBe(304)
    expect(await renders(h.pf)).toEqual(before)
  })

  it('negotiates the format from Accept when none is named, with Vary: Accept', async () => {
    const url = `/t/${sign('w:200', id)}/w:200/${id}`
    const formats: Record<string, string> = {}
    for (const accept of ['image/avif,image/webp,*/*', 'image/webp,*/*', '*/*', '']) {
      const res = await get(url, accept ? { accept } : {})
      expect(res.headers.vary).toBe('Accept')
      formats[accept] = (await sharp(res.rawPayload).metadata()).format as string
    }
    expect(formats).toEqual({
      'image/avif,image/webp,*/*': 'heif',
      'image/webp,*/*': 'webp',
      '*/*': 'jpeg',
      '': 'jpeg',
    })
  })

  it('accepts a signature of the previous key (rotation) and refuses a tampered one before any lookup', async () => {
    const old = await get(`/t/${sign('w:90,f:jpeg', id, oldSigner)}/w:90/${id}.jpg`)
    expect(old.statusCode).toBe(200)
    const sig = sign('w:300,h:300,f:webp', id)
    for (const url of [
      `/t/${sig}/w:301,h:300,f:webp/${id}`,
      `/t/${sig}/w:300,h:300,f:png/${id}`,
      `/t/${sig.slice(1)}x/w:300,h:300,f:webp/${id}`,
      `/t/${sig}/w:300,h:300,f:webp/01m0000000000000000000000000`,
    ]) {
      const res = await get(url)
      expect([url, res.statusCode, res.json().code]).toEqual([url, 403, 'SIGNATURE_INVALID'])
    }
  })

  it('serves a preset listed as unsigned with `_`, and nothing else unsigned', async () => {
    expect((await get(`/t/_/p:thumb/${id}.webp`)).statusCode).toBe(200)
    expect((await get(`/t/_/p:thumb/${id}`)).statusCode).toBe(200)
    for (const url of [`/t/_/p:medium/${id}`, `/t/_/p:thumb,w:2000/${id}`, `/t/_/w:100/${id}`]) {
      const res = await get(url)
      expect([url, res.statusCode, res.json().code]).toEqual([url, 403, 'SIGNATURE_INVALID'])
    }
  })

  it.each([
    ['zoom:2', 'TRANSFORM_INVALID', 400],
    ['w:0', 'TRANSFORM_INVALID', 400],
    ['q:500', 'TRANSFORM_INVALID', 400],
    ['w:1,w:2', 'TRANSFORM_INVALID', 400],
    ['p:nosuch', 'TRANSFORM_INVALID', 400],
    ['w:9000', 'TRANSFORM_TOO_LARGE', 400],
    ['w:5000,h:5000', 'TRANSFORM_TOO_LARGE', 400],
    ['w:100,dpr:9', 'TRANSFORM_TOO_LARGE', 400],
  ])('refuses %s with %s, never a 500', async (options, code, status) => {
    const res = await get(`/t/${sign(options, id)}/${options}/${id}`)
    expect([res.statusCode, res.json().code]).toEqual([status, code])
  })

  it('answers hostile paths with a 4xx problem, never a 500', async () => {
    for (const url of [
      `/t/_/${'w:1,'.repeat(200)}/${id}`,
      `/t/_/w:1/${id}.exe`,
      `/t/_/%00/${id}`,
      `/t/_/w:1/${'x'.repeat(100)}`,
      `/t/${'a'.repeat(80)}/w:1/${id}`,
      `/t/_/g:fp:nan:nan/${id}`,
    ]) {
      const res = await get(url)
      expect([url, res.statusCode >= 400 && res.statusCode < 500]).toEqual([url, true])
    }
  })

  it('renders a new transform once for 50 concurrent requests', async () => {
    const url = `/t/${sign('w:333,f:webp', id)}/w:333,f:webp/${id}`
    const before = await renders(h.pf)
    const all = await Promise.all(Array.from({ length: 50 }, () => get(url)))
    expect(new Set(all.map((r) => r.statusCode))).toEqual(new Set([200]))
    expect(new Set(all.map((r) => r.headers.etag)).size).toBe(1)
    const after = await renders(h.pf)
    expect((after.rendered ?? 0) - (before.rendered ?? 0)).toBe(1)
  })

  it('renders a configured preset the image lacks in that format (AVIF) on /i/, once, and negotiates on /i/<id>/<preset>', async () => {
    const avif = await get(`/i/${id}/medium.avif`)
    expect(avif.statusCode).toBe(200)
    expect(avif.headers['content-type']).toBe('image/avif')
    expect((await sharp(avif.rawPayload).metadata()).width).toBe(400)
    const negotiated = await get(`/i/${id}/medium`, { accept: 'image/avif,image/webp' })
    expect(negotiated.headers).toMatchObject({ vary: 'Accept', etag: avif.headers.etag })
    // WebP was made at upload: the stored variant, with its own ETag.
    const webp = await get(`/i/${id}/medium`, { accept: 'image/webp' })
    const stored = await get(`/i/${id}/medium.webp`)
    expect(webp.headers.etag).toBe(stored.headers.etag)
    expect((await get(`/i/${id}/nosuch.webp`)).json().code).toBe('VARIANT_NOT_FOUND')
  })

  it('serves a private image only with its expiring URL signature as well, cached privately', async () => {
    const upload = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/images?visibility=private',
      payload: await makeJpeg(400, 300),
      headers: { authorization: `Bearer ${h.alice}`, 'content-type': 'image/jpeg' },
    })
    const priv = upload.json().id as string
    await h.waitSettled(priv)
    const path = `/t/${sign('w:100,f:jpeg', priv)}/w:100,f:jpeg/${priv}`
    const bare = await get(path)
    expect([bare.statusCode, bare.json().code]).toEqual([404, 'IMAGE_NOT_FOUND'])
    const signed = await get(urls.sign(path))
    expect(signed.statusCode).toBe(200)
    expect(signed.headers['cache-control']).toMatch(/^private, max-age=\d+$/)
  })
})

describe('a focal point stored on the image', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness(ENV)
  })
  afterAll(() => h.close())

  const patch = (id: string, body: unknown, key = h.alice) =>
    h.pf.app.inject({
      method: 'PATCH',
      url: `/v1/images/${id}`,
      payload: body as object,
      headers: { authorization: `Bearer ${key}` },
    })

  it('is set and cleared through the API, by its owner only, within 0–1', async () => {
    const id = (await h.upload(await makeJpeg(), 'image/jpeg')).json().id
    const set = await patch(id, { focalPoint: { x: 0.2, y: 0.8 } })
    expect([set.statusCode, set.json().focalPoint]).toEqual([200, { x: 0.2, y: 0.8 }])
    expect((await h.getImage(id)).body.focalPoint).toEqual({ x: 0.2, y: 0.8 })
    expect((await patch(id, { focalPoint: { x: 1.5, y: 0 } })).json().code).toBe('BAD_REQUEST')
    expect((await patch(id, { other: 1 })).statusCode).toBe(400)
    expect((await patch(id, { focalPoint: null }, h.bob)).json().code).toBe('IMAGE_NOT_FOUND')
    expect((await patch(id, { focalPoint: null })).json().focalPoint).toBeNull()
  })

  it('steers a cover crop that names no gravity, and a new point is a new result', async () => {
    const halves = await makeHalves()
    const id = (await h.upload(halves, 'image/png')).json().id
    await h.waitSettled(id)
    const url = `/t/${sign('w:100,h:200,f:png', id)}/w:100,h:200,f:png/${id}`
    const mean = async () => {
      const res = await h.pf.app.inject(url)
      return {
        etag: res.headers.etag,
        mean: (await sharp(res.rawPayload).stats()).channels[0]!.mean,
      }
    }
    await patch(id, { focalPoint: { x: 0.9, y: 0.5 } })
    const right = await mean()
    await patch(id, { focalPoint: { x: 0.1, y: 0.5 } })
    const left = await mean()
    expect(right.mean).toBeGreaterThan(240)
    expect(left.mean).toBeLessThan(15)
    expect(left.etag).not.toBe(right.etag)
    // An explicit gravity still wins over the stored point.
    const explicit = `/t/${sign('w:100,h:200,g:e,f:png', id)}/w:100,h:200,g:e,f:png/${id}`
    const east = await h.pf.app.inject(explicit)
    expect((await sharp(east.rawPayload).stats()).channels[0]!.mean).toBeGreaterThan(240)
  })
})

describe('transforms and the image lifecycle', () => {
  let h: Harness | undefined
  afterEach(async () => {
    await h?.close()
    h = undefined
  })

  it('answers 409 IMAGE_NOT_READY with Retry-After while the image waits for a worker', async () => {
    h = await startHarness({ ...ENV, PIXELFLOW_WORKER_ENABLED: 'false' })
    const id = (await h.upload(await makeJpeg(), 'image/jpeg')).json().id
    const res = await h.pf.app.inject(`/t/${sign('w:100', id)}/w:100/${id}`)
    expect([res.statusCode, res.json().code]).toEqual([409, 'IMAGE_NOT_READY'])
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('stops serving a deleted image at once and deletes its derived results', async () => {
    h = await startHarness(ENV)
    const id = (await h.upload(await makePngAlpha(300, 200), 'image/png')).json().id
    await h.waitSettled(id)
    const url = `/t/${sign('w:50,f:png', id)}/w:50,f:png/${id}`
    expect((await h.pf.app.inject(url)).statusCode).toBe(200)
    expect((await h.leftovers()).objects.some((k) => k.includes('/t/'))).toBe(true)
    await h.pf.app.inject({
      method: 'DELETE',
      url: `/v1/images/${id}`,
      headers: { authorization: `Bearer ${h.alice}` },
    })
    const gone = await h.pf.app.inject(url)
    expect([gone.statusCode, gone.json().code]).toEqual([404, 'IMAGE_NOT_FOUND'])
    expect((await h.leftovers()).objects).toEqual([])
  })

  it('sheds renders past the queue with 503 TRANSFORM_BUSY and Retry-After, and serves the rest', async () => {
    h = await startHarness({
      ...ENV,
      PIXELFLOW_TRANSFORM_CONCURRENCY: '1',
      PIXELFLOW_TRANSFORM_QUEUE: '1',
    })
    const id = (await h.upload(await makeJpeg(1600, 1200), 'image/jpeg')).json().id
    await h.waitSettled(id)
    const all = await Promise.all(
      Array.from({ length: 12 }, (_, i) => {
        const options = `w:${500 + i},f:avif`
        return h!.pf.app.inject(`/t/${sign(options, id)}/${options}/${id}`)
      }),
    )
    const busy = all.filter((r) => r.statusCode === 503)
    expect(busy.length).toBeGreaterThan(0)
    expect(all.filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(2)
    expect(busy[0]!.json().code).toBe('TRANSFORM_BUSY')
    expect(busy[0]!.headers['retry-after']).toBe('1')
  })
})

describe('derived results and presets across restarts', () => {
  let dir: string
  const running: Pixelflow[] = []
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-restart-'))
  })
  afterAll(async () => {
    await Promise.all(running.map((pf) => pf.close()))
    await rm(dir, { recursive: true, force: true })
  })

  async function start(presets: string) {
    const config = loadConfig({ ...ENV, PIXELFLOW_DATA_DIR: dir, PIXELFLOW_PRESETS: presets })
    const pf = await createPixelflow(config, pino({ level: 'silent' }))
    running.push(pf)
    return pf
  }

  it('serves a result rendered before a restart without rendering it again, and a preset added later', async () => {
    const first = await start('thumb:160')
    const key = (await first.deps.apiKeys.create('carol')).key
    const upload = await first.app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: await makeJpeg(900, 600),
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
    })
    const id = upload.json().id as string
    const url = `/t/${sign('w:222,f:webp', id)}/w:222,f:webp/${id}`
    for (let i = 0; i < 200; i++) {
      if ((await first.app.inject(url)).statusCode === 200) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect((await renders(first)).rendered).toBe(1)
    expect((await first.app.inject(`/i/${id}/wide.webp`)).statusCode).toBe(404)
    await first.close()
    running.pop()

    const second = await start('thumb:160,wide:640')
    const again = await second.app.inject(url)
    expect(again.statusCode).toBe(200)
    expect(await renders(second)).toEqual({ stored: 1 })
    const wide = await second.app.inject(`/i/${id}/wide.webp`)
    expect(wide.statusCode).toBe(200)
    expect((await sharp(wide.rawPayload).metadata()).width).toBe(640)
  })
})
