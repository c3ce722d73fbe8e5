import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PixelflowClient, PixelflowEvent } from '../../packages/client/src/index.js'
import { makeJpeg } from '../fixtures/images.js'
import { startTcpProxy, type TcpProxy } from '../fixtures/tcp-proxy.js'
import { type ClientServer, startClientServer } from './server.js'

/** The next event about `imageId` from an iterator that stays open. */
async function nextAbout(
  iterator: AsyncIterator<PixelflowEvent>,
  imageId: string,
): Promise<PixelflowEvent> {
  for (;;) {
    const { done, value } = await iterator.next()
    if (done) throw new Error('the event stream ended')
    if (value.data.imageId === imageId) return value
  }
}

describe('the live event stream through the client', () => {
  let s: ClientServer
  let proxy: TcpProxy
  const routes = new Map<string, number>()
  let size = 500
  const upload = async (client: PixelflowClient) => client.upload(await makeJpeg(size++, 300))

  beforeAll(async () => {
    s = await startClientServer({}, (h) =>
      // onRequest: a stream's reply is hijacked and never reaches onResponse.
      h.pf.app.addHook('onRequest', async (request) => {
        const route = `${request.method} ${request.routeOptions.url ?? request.url}`
        routes.set(route, (routes.get(route) ?? 0) + 1)
      }),
    )
    proxy = await startTcpProxy('127.0.0.1', s.port)
  })
  afterAll(async () => {
    await proxy.close()
    await s.close()
  })

  it('waitUntilReady waits on the stream: one read when it opens, one when the event comes', async () => {
    const client = s.client()
    const image = await upload(client)
    routes.clear()
    const ready = await client.waitUntilReady(image.id, { timeoutMs: 30_000 })
    expect(ready.status).toBe('ready')
    expect(routes.get('GET /v1/events')).toBe(1)
    // Polling would have read it every 250–400 ms while it was processed.
    expect(routes.get('GET /v1/images/:id')).toBeLessThanOrEqual(2)
  })

  it('yields the caller’s events and resumes after a given id without a repeat', async () => {
    const client = s.client()
    const controller = new AbortController()
    const iterator = client.events({ signal: controller.signal })[Symbol.asyncIterator]()
    const image = await upload(client)
    const ready = await nextAbout(iterator, image.id)
    expect(ready).toMatchObject({ type: 'image.ready', data: { imageId: image.id } })
    expect(ready.id).toMatch(/.+/)
    expect(ready.occurredAt).toMatch(/^\d{4}-/)

    await client.images.delete(image.id)
    const deleted = await nextAbout(iterator, image.id)
    expect(deleted.type).toBe('image.deleted')

    // From the ready event's id, the next event about the image is its deletion: nothing lost.
    const resumed = client.events({ lastEventId: ready.id, signal: controller.signal })
    const again = await nextAbout(resumed[Symbol.asyncIterator](), image.id)
    expect(again).toMatchObject({ id: deleted.id, type: 'image.deleted' })
    controller.abort()
  })

  it('reconnects after a cut connection with Last-Event-ID: the events in between arrive', async () => {
    const viaProxy = s.client({ baseUrl: `http://127.0.0.1:${proxy.port}` })
    const direct = s.client()
    const controller = new AbortController()
    const iterator = viaProxy.events({ signal: controller.signal })[Symbol.asyncIterator]()
    const before = await upload(direct)
    expect((await nextAbout(iterator, before.id)).type).toBe('image.ready')

    await proxy.down() // the stream breaks; the client keeps trying
    const during = await upload(direct)
    await direct.waitUntilReady(during.id)
    await proxy.up()

    const seen: PixelflowEvent[] = []
    for (;;) {
      const { value } = await iterator.next()
      seen.push(value as PixelflowEvent)
      if (value?.data.imageId === during.id) break
    }
    expect(seen.at(-1)).toMatchObject({ type: 'image.ready', data: { imageId: during.id } })
    // Resumed after the last id seen: the event before the cut does not come again.
    expect(seen.filter((e) => e.data.imageId === before.id)).toEqual([])
    expect(routes.get('GET /v1/events')).toBeGreaterThanOrEqual(2)
    controller.abort()
  })
})
