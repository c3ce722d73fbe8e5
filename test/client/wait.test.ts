import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ImageFailedError,
  type PixelflowClient,
  PixelflowError,
} from '../../packages/client/src/index.js'
import { makeAvif, makeJpeg } from '../fixtures/images.js'
import { type ClientServer, rejection, startClientServer } from './server.js'

/** Counts the requests the server saw, by route pattern. */
function countRoutes(s: { h: ClientServer['h'] }, routes: Map<string, number>) {
  s.h.pf.app.addHook('onResponse', async (request) => {
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`
    routes.set(route, (routes.get(route) ?? 0) + 1)
  })
}

/** A fetch for a server without the live stream: /v1/events goes to a route that does not exist. */
const withoutEvents: typeof fetch = (input, init) =>
  fetch(String(input).replace('/v1/events', '/v1/no-events-here'), init)

describe('waitUntilReady', () => {
  let s: ClientServer
  const routes = new Map<string, number>()
  let size = 400
  const upload = async (client: PixelflowClient) => client.upload(await makeJpeg(size++, 300))

  beforeAll(async () => {
    s = await startClientServer({}, (h) => countRoutes({ h }, routes))
  })
  afterAll(() => s.close())

  it('polls the image with backoff when the server has no event stream', async () => {
    const client = s.client({ fetch: withoutEvents })
    const image = await upload(client)
    routes.clear()
    const ready = await client.waitUntilReady(image.id, { timeoutMs: 30_000 })
    expect(ready).toMatchObject({ id: image.id, status: 'ready' })
    expect(ready.variants.length).toBeGreaterThan(0)
    expect(routes.get('GET /v1/no-events-here')).toBe(1)
    expect(routes.get('GET /v1/images/:id')).toBeGreaterThanOrEqual(1)
  })

  it('rejects with ImageFailedError carrying the failure code when the image failed', async () => {
    const avif = await makeAvif(400, 300)
    for (const client of [s.client(), s.client({ fetch: withoutEvents })]) {
      // Cut off: accepted at upload (AVIF has no trailer to check), fails in the worker.
      const image = await client.upload(avif.subarray(0, Math.floor(avif.length * 0.7)), {
        filename: `broken-${size++}.avif`,
        idempotencyKey: `broken-${size}`,
      })
      const error = await rejection<ImageFailedError>(
        client.waitUntilReady(image.id, { timeoutMs: 30_000 }),
      )
      expect(error).toBeInstanceOf(ImageFailedError)
      expect(error).toBeInstanceOf(PixelflowError)
      expect(error.code).toMatch(/^IMAGE_(UNDECODABLE|TRUNCATED)$/)
      expect(error.image).toMatchObject({ id: image.id, status: 'failed' })
    }
  })

  it('answers at once for an image that is already ready', async () => {
    const client = s.client()
    const image = await upload(client)
    await client.waitUntilReady(image.id)
    const started = Date.now()
    expect((await client.waitUntilReady(image.id)).status).toBe('ready')
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it('rejects for an image that does not exist', async () => {
    await expect(s.client().waitUntilReady('img_missing')).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      status: 404,
    })
  })
})

describe('waitUntilReady without a worker', () => {
  let s: ClientServer
  beforeAll(async () => {
    s = await startClientServer({ PIXELFLOW_WORKER_ENABLED: 'false' })
  })
  afterAll(() => s.close())

  it('gives up after timeoutMs with a TIMEOUT error, and stops on abort', async () => {
    for (const client of [s.client(), s.client({ fetch: withoutEvents })]) {
      const image = await client.upload(await makeJpeg(333, 222))
      const started = Date.now()
      const error = await rejection(client.waitUntilReady(image.id, { timeoutMs: 600 }))
      expect(error).toMatchObject({ code: 'TIMEOUT', status: 0 })
      expect(Date.now() - started).toBeGreaterThanOrEqual(550)
      expect(Date.now() - started).toBeLessThan(3_000)

      const controller = new AbortController()
      setTimeout(() => controller.abort(new Error('stop waiting')), 200)
      await expect(client.waitUntilReady(image.id, { signal: controller.signal })).rejects.toThrow(
        'stop waiting',
      )
    }
  })
})
