import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type ClientServer, rejection, startClientServer } from './server.js'

/** The client's methods for the other routes, against the real server: typed, and they work. */
describe('client: upload from a URL, webhooks, upload tokens', () => {
  let s: ClientServer
  let origin: Server
  let originUrl: string
  let jpeg: Buffer

  beforeAll(async () => {
    jpeg = await makeJpeg(420, 300)
    origin = createServer((request, response) => {
      if (request.url === '/cat.jpg')
        response.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg)
      else response.writeHead(404).end()
    })
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
    originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`
    s = await startClientServer({ PIXELFLOW_OUTBOUND_ALLOW: '127.0.0.1' })
  })
  afterAll(async () => {
    await s.close()
    await new Promise((resolve) => origin.close(resolve))
  })

  it('uploadFromUrl: the server fetches the image; a forbidden URL is a typed error', async () => {
    const client = s.client()
    const image = await client.uploadFromUrl(`${originUrl}/cat.jpg`, { visibility: 'private' })
    expect(image).toMatchObject({ status: 'queued', bytes: jpeg.length, visibility: 'private' })
    expect((await client.waitUntilReady(image.id)).status).toBe('ready')

    const refused = await rejection(client.uploadFromUrl('http://169.254.169.254/latest/meta-data'))
    expect(refused).toMatchObject({ code: 'URL_FORBIDDEN', status: 422 })
  })

  it('images.setFocalPoint: set, cleared, and refused out of range as a typed error', async () => {
    const client = s.client()
    const image = await client.upload(jpeg)
    expect((await client.images.setFocalPoint(image.id, { x: 0.3, y: 0.6 })).focalPoint).toEqual({
      x: 0.3,
      y: 0.6,
    })
    expect((await client.images.get(image.id)).focalPoint).toEqual({ x: 0.3, y: 0.6 })
    expect((await client.images.setFocalPoint(image.id, null)).focalPoint).toBeNull()
    const refused = await rejection(client.images.setFocalPoint(image.id, { x: 2, y: 0 }))
    expect(refused).toMatchObject({ code: 'BAD_REQUEST', status: 400 })
  })

  it('webhooks: create (secret once), list, get, deliveries, delete', async () => {
    const client = s.client()
    const created = await client.webhooks.create({ url: `${originUrl}/hook` })
    expect(created.secret).toMatch(/^whsec_/)
    const list = await client.webhooks.list()
    expect(JSON.stringify(list)).toContain(created.id)
    const got = await client.webhooks.get(created.id)
    expect(got).toMatchObject({ id: created.id, url: `${originUrl}/hook` })
    expect(got).not.toHaveProperty('secret')
    const deliveries = await client.webhooks.deliveries(created.id, { limit: 5 })
    expect(deliveries).toBeDefined()
    await client.webhooks.delete(created.id)
    await expect(client.webhooks.get(created.id)).rejects.toMatchObject({ status: 404 })
  })

  it('upload tokens: a backend mints one, a client with only the token can upload', async () => {
    const backend = s.client()
    const minted = await backend.uploadTokens.create({ expiresInSeconds: 300, maxUploads: 1 })
    const { token } = minted
    expect(token).toMatch(/^pfu_/)
    const browser = s.client({ apiKey: undefined, token })
    const image = await browser.upload(await makeJpeg(421, 300), { filename: 'a.jpg' })
    expect(image.status).toBe('queued')
    // A token uploads, nothing else.
    await expect(browser.images.list()).rejects.toMatchObject({ status: 403 })
  })
})
