import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

/** A local image host: what each path answers is up to the test. */
async function startImageHost(
  routes: Record<string, (res: import('node:http').ServerResponse) => void>,
) {
  const server = createServer((req, res) => {
    const route = routes[req.url ?? '']
    if (route) route(res)
    else res.writeHead(404).end('not here')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** POST /v1/images {"url": …}: fetched through the SSRF guard into the same upload path. */
describe('upload from a URL', () => {
  let h: Harness
  let host: { server: Server; base: string }
  let jpeg: Buffer
  const MAX = 150 * 1024

  beforeAll(async () => {
    jpeg = await makeJpeg(500, 400)
    const big = Buffer.alloc(MAX + 10, 0xff)
    host = await startImageHost({
      // Wrong type on purpose: the bytes are sniffed, the remote's Content-Type is not trusted.
      '/photo.jpg': (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(jpeg),
      '/moved': (res) => res.writeHead(302, { location: '/photo.jpg' }).end(),
      '/page.html': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'),
      '/gone': (res) => res.writeHead(410).end(),
      // Streamed without a Content-Length: the byte limit has to stop it while it flows.
      '/huge-stream': (res) => {
        res.writeHead(200, { 'content-type': 'image/jpeg' })
        res.write(jpeg.subarray(0, 1024))
        res.end(big)
      },
      '/huge-declared': (res) =>
        res.writeHead(200, { 'content-length': String(big.length) }).end(big),
      // Over the guard's own ceiling too (the limit plus 1 MiB).
      '/huger-declared': (res) => {
        res.writeHead(200, { 'content-length': String(MAX + 2 * 1024 * 1024) })
        res.end(big)
      },
      '/slow': (res) => {
        res.writeHead(200, { 'content-type': 'image/jpeg' })
        res.write(jpeg.subarray(0, 100)) // then nothing, until the deadline
      },
    })
    h = await startHarness({
      PIXELFLOW_OUTBOUND_ALLOW: '127.0.0.1',
      PIXELFLOW_MAX_UPLOAD_BYTES: String(MAX),
      PIXELFLOW_URL_UPLOAD_TIMEOUT_MS: '500',
    })
  })
  afterAll(async () => {
    await h?.close()
    host.server.closeAllConnections()
    await new Promise((resolve) => host.server.close(resolve))
  })

  const fromUrl = (body: unknown, harness = h, headers: Record<string, string> = {}) =>
    harness.pf.app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: JSON.stringify(body),
      headers: {
        authorization: `Bearer ${harness.alice}`,
        'content-type': 'application/json',
        ...headers,
      },
    })

  /** Rows, jobs and originals: what a refused upload must not leave. */
  const kept = async () => {
    const { rows, outbox, objects } = await h.leftovers()
    return { rows, outbox, originals: objects.filter((k) => k.endsWith('/original')).length }
  }

  it('fetches the image, answers 202, and it is processed like any upload', async () => {
    const res = await fromUrl({ url: `${host.base}/photo.jpg`, visibility: 'private' })
    expect(res.statusCode, res.body).toBe(202)
    expect(res.json()).toMatchObject({ format: 'jpeg', width: 500, height: 400 })
    expect(res.json().visibility).toBe('private')
    expect(res.headers.location).toBe(res.json().links.self)
    const image = await h.waitSettled(res.json().id)
    expect(image.status).toBe('ready')
    expect(image.bytes).toBe(jpeg.length)
  })

  it('follows a redirect (each hop checked again)', async () => {
    const res = await fromUrl({ url: `${host.base}/moved` }, h, { 'idempotency-key': 'url-1' })
    expect(res.statusCode, res.body).toBe(202)
    // Idempotency works as for any upload: the same key and the same bytes are a replay.
    const again = await fromUrl({ url: `${host.base}/photo.jpg` }, h, {
      'idempotency-key': 'url-1',
    })
    expect(again.statusCode).toBe(202)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json().id).toBe(res.json().id)
  })

  it('refusals leave nothing behind, each with its code', async () => {
    // The earlier tests' uploads leave outbox rows until the relay has published them.
    await eventually(async () => (await kept()).outbox === 0, { message: 'outbox drained' })
    const before = await kept()
    const cases: [string, number, string][] = [
      [`${host.base}/gone`, 422, 'URL_FETCH_STATUS'],
      [`${host.base}/nothing-here`, 422, 'URL_FETCH_STATUS'],
      [`${host.base}/page.html`, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [`${host.base}/huge-stream`, 413, 'UPLOAD_TOO_LARGE'],
      [`${host.base}/huge-declared`, 413, 'UPLOAD_TOO_LARGE'],
      [`${host.base}/huger-declared`, 413, 'UPLOAD_TOO_LARGE'],
      [`${host.base}/slow`, 502, 'URL_FETCH_FAILED'],
      ['file:///etc/passwd', 422, 'URL_FORBIDDEN'],
      ['not a url', 422, 'URL_FORBIDDEN'],
    ]
    for (const [url, status, code] of cases) {
      const res = await fromUrl({ url })
      expect([res.statusCode, res.json().code], url).toEqual([status, code])
    }
    expect((await fromUrl({ url: `${host.base}/gone` })).json().detail).toMatch(/410/)
    expect(await kept()).toEqual(before)
  })

  it('a JSON body without a url, or with an unknown visibility → 400', async () => {
    expect((await fromUrl({})).statusCode).toBe(400)
    expect(
      (await fromUrl({ url: `${host.base}/photo.jpg`, visibility: 'hidden' })).statusCode,
    ).toBe(400)
  })

  describe('without an allow-list entry', () => {
    let strict: Harness
    beforeAll(async () => {
      strict = await startHarness()
    })
    afterAll(() => strict.close())

    it('a loopback or private URL → 422 URL_FORBIDDEN, nothing fetched', async () => {
      for (const url of [
        `${host.base}/photo.jpg`,
        'http://10.0.0.1/a.jpg',
        'http://169.254.169.254/latest/meta-data/',
        'http://[::1]/a.jpg',
      ]) {
        const res = await fromUrl({ url }, strict)
        expect([res.statusCode, res.json().code], url).toEqual([422, 'URL_FORBIDDEN'])
      }
    })
  })
})
