import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

describe('the image API', () => {
  let h: Harness
  let ready: any
  beforeAll(async () => {
    // /metrics on the API port is opt-in (README, Configuration).
    h = await startHarness({ PIXELFLOW_METRICS_PUBLIC: 'true' })
    const res = await h.upload(await makeJpeg(800, 600), 'image/jpeg')
    ready = await h.waitSettled(res.json().id)
  })
  afterAll(() => h.close())

  const inject = (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    key?: string,
    headers: Record<string, string> = {},
  ) =>
    h.pf.app.inject({
      method,
      url,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    })

  it('answers 202 with id, status, links and a Location header', async () => {
    const res = await h.upload(await makeJpeg(), 'image/jpeg')
    expect(res.statusCode).toBe(202)
    const body = res.json()
    expect(body).toMatchObject({
      status: 'queued',
      links: { self: expect.stringContaining(`/v1/images/${body.id}`) },
    })
    expect(res.headers.location).toBe(body.links.self)
    expect(body.id).toMatch(/^[0-9a-z]{29}$/)
  })

  it('401 without a key or with a bad one, on every /v1 route', async () => {
    for (const [method, url] of [
      ['POST', '/v1/images'],
      ['GET', '/v1/images'],
      ['GET', `/v1/images/${ready.id}`],
      ['DELETE', `/v1/images/${ready.id}`],
    ] as const) {
      for (const key of [undefined, `pf_AAAAAAAAAAAA_${'A'.repeat(43)}`, 'nonsense']) {
        const res = await inject(method, url, key)
        expect(res.statusCode, `${method} ${url} ${key}`).toBe(401)
        expect(res.json().code).toBe('UNAUTHENTICATED')
        expect(res.headers['www-authenticate']).toBe('Bearer')
      }
    }
  })

  it("404 for another owner's image on every image route, and it stays intact", async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await inject(method, `/v1/images/${ready.id}`, h.bob)
      expect(res.statusCode).toBe(404)
      expect(res.json().code).toBe('IMAGE_NOT_FOUND')
    }
    const list = (await inject('GET', '/v1/images', h.bob)).json()
    expect(list.items.map((i: any) => i.id)).not.toContain(ready.id)
    expect((await h.getImage(ready.id)).body.status).toBe('ready')
  })

  it('404 for a malformed or unknown id', async () => {
    for (const id of ['nope', '0'.repeat(29), '../../etc/passwd']) {
      expect(
        (await inject('GET', `/v1/images/${encodeURIComponent(id)}`, h.alice)).statusCode,
      ).toBe(404)
    }
  })

  it('the same Idempotency-Key gives the same image and one job', async () => {
    const body = await makeJpeg(300, 200)
    const headers = { 'idempotency-key': 'order-42-photo-1' }
    const [first, second] = await Promise.all([
      h.upload(body, 'image/jpeg', headers),
      h.upload(body, 'image/jpeg', headers),
    ])
    const third = await h.upload(body, 'image/jpeg', headers)
    expect([first.statusCode, second.statusCode, third.statusCode]).toEqual([202, 202, 202])
    const ids = new Set([first.json().id, second.json().id, third.json().id])
    expect(ids.size).toBe(1)
    const [id] = ids
    await h.waitSettled(id!)
    const attempts = (await h.pf.deps.metadata.forImageId(id!)!.getImage(id!))!.attempts
    expect(attempts).toBe(1)
    const objects = (await h.pf.deps.store.list('images/')).filter((k) => k.endsWith('/original'))
    const images = (await inject('GET', '/v1/images?limit=100', h.alice)).json().items
    expect(objects).toHaveLength(images.length)
    // The same key from another owner is another image.
    const bobs = await h.upload(body, 'image/jpeg', headers, h.bob)
    expect(bobs.json().id).not.toBe(id)
  })

  it('lists newest first with cursor pagination, each image once', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++)
      ids.push((await h.upload(await makeJpeg(64 + i, 64), 'image/jpeg', {}, h.bob)).json().id)
    const seen: string[] = []
    let url: string | undefined = '/v1/images?limit=2'
    while (url) {
      const page: any = (await inject('GET', url, h.bob)).json()
      seen.push(...page.items.map((i: any) => i.id))
      url = page.nextCursor ? `/v1/images?limit=2&cursor=${page.nextCursor}` : undefined
    }
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse())
    expect(new Set(seen).size).toBe(seen.length)
  })

  it('DELETE removes the row and every object', async () => {
    const res = await h.upload(await makeJpeg(), 'image/jpeg')
    const image = await h.waitSettled(res.json().id)
    // The original, thumb in two formats, and medium in two: large (2048) would be the same
    // 640 px as medium (1024), so it shares medium's objects instead of writing copies.
    expect((await h.pf.deps.store.list(`images/${image.id}/`)).length).toBe(5)
    expect((await inject('DELETE', `/v1/images/${image.id}`, h.alice)).statusCode).toBe(204)
    expect(await h.pf.deps.store.list(`images/${image.id}/`)).toEqual([])
    expect((await h.getImage(image.id)).status).toBe(404)
    expect((await inject('GET', new URL(image.variants[0].url).pathname)).statusCode).toBe(404)
  })

  describe('delivery', () => {
    const pathOf = (name: string, format: string) =>
      new URL(ready.variants.find((v: any) => v.name === name && v.format === format).url).pathname

    it('serves bytes with immutable caching, a strong ETag and nosniff', async () => {
      const res = await inject('GET', pathOf('thumb', 'webp'))
      expect(res.statusCode).toBe(200)
      expect(res.headers).toMatchObject({
        'content-type': 'image/webp',
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
        'accept-ranges': 'bytes',
      })
      expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
      expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length)
      expect(res.rawPayload.subarray(8, 12).toString()).toBe('WEBP')
    })

    it('304 on a matching If-None-Match, 200 on another', async () => {
      const first = await inject('GET', pathOf('medium', 'jpeg'))
      const etag = first.headers.etag as string
      const again = await inject('GET', pathOf('medium', 'jpeg'), undefined, {
        'if-none-match': `"other", W/${etag}`,
      })
      expect(again.statusCode).toBe(304)
      expect(again.rawPayload.length).toBe(0)
      expect(again.headers.etag).toBe(etag)
      expect(
        (await inject('GET', pathOf('medium', 'jpeg'), undefined, { 'if-none-match': '"other"' }))
          .statusCode,
      ).toBe(200)
    })

    it('206 for a byte range, 416 outside the body', async () => {
      const whole = (await inject('GET', pathOf('large', 'jpeg'))).rawPayload
      const part = await inject('GET', pathOf('large', 'jpeg'), undefined, {
        range: 'bytes=100-199',
      })
      expect(part.statusCode).toBe(206)
      expect(part.headers['content-range']).toBe(`bytes 100-199/${whole.length}`)
      expect(part.rawPayload.equals(whole.subarray(100, 200))).toBe(true)
      const suffix = await inject('GET', pathOf('large', 'jpeg'), undefined, { range: 'bytes=-10' })
      expect(suffix.rawPayload.equals(whole.subarray(-10))).toBe(true)
      const outside = await inject('GET', pathOf('large', 'jpeg'), undefined, {
        range: `bytes=${whole.length + 5}-`,
      })
      expect(outside.statusCode).toBe(416)
      expect(outside.headers['content-range']).toBe(`bytes */${whole.length}`)
    })

    it('404 for an unknown variant or format, 409 while processing', async () => {
      expect((await inject('GET', `/i/${ready.id}/huge.webp`)).json().code).toBe(
        'VARIANT_NOT_FOUND',
      )
      expect((await inject('GET', `/i/${ready.id}/thumb.bmp`)).json().code).toBe(
        'VARIANT_NOT_FOUND',
      )
      const queued = await h.upload(await makeJpeg(), 'image/jpeg')
      const early = await inject('GET', `/i/${queued.json().id}/thumb.webp`)
      if (early.statusCode !== 200) expect(early.json().code).toBe('VARIANT_NOT_READY')
      await h.waitSettled(queued.json().id)
    })
  })

  it('healthz, readyz and Prometheus metrics', async () => {
    expect((await inject('GET', '/healthz')).json()).toEqual({ status: 'ok' })
    expect((await inject('GET', '/readyz')).json()).toEqual({
      status: 'ok',
      checks: { store: 'ok', queue: 'ok', metadata: 'ok' },
    })
    const metrics = (await inject('GET', '/metrics')).body
    expect(metrics).toMatch(/pixelflow_uploads_total\{result="accepted"\} [1-9]/)
    expect(metrics).toMatch(/pixelflow_jobs_total\{outcome="ready"\} [1-9]/)
    expect(metrics).toMatch(/pixelflow_queue_depth\{state="visible"\} \d+/)
    expect(metrics).toMatch(/pixelflow_processing_seconds_count [1-9]/)
  })

  it('errors are problem+json with a request id', async () => {
    const res = await inject('GET', '/nowhere', undefined, { 'x-request-id': 'trace-123' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['x-request-id']).toBe('trace-123')
    expect(res.json()).toMatchObject({
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      title: 'Not Found',
      requestId: 'trace-123',
    })
  })
})
