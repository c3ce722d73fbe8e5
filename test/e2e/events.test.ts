import { afterEach, describe, expect, it } from 'vitest'
import { decodePosition } from '../../src/events/position.js'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeAvif, makeJpeg } from '../fixtures/images.js'
import { openSse, type SseClient } from '../fixtures/sse.js'

/** GET /v1/events on the whole pipeline in one process (SQLite shards, in-process hints). */
describe('GET /v1/events in one process', () => {
  let h: Harness | undefined
  const clients: SseClient[] = []
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close()
    await h?.close()
    h = undefined
  })

  async function start(env: Record<string, string> = {}) {
    h = await startHarness({ PIXELFLOW_EVENTS_HEARTBEAT_MS: '100', ...env })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.pf.app.server.address() as { port: number }
    return { harness: h, base: `http://127.0.0.1:${port}` }
  }

  async function stream(base: string, key: string, headers: Record<string, string> = {}) {
    const client = await openSse(`${base}/v1/events`, {
      authorization: `Bearer ${key}`,
      ...headers,
    })
    clients.push(client)
    return client
  }

  const imageIdsOf = (messages: { data: string }[]) =>
    messages.map((m) => JSON.parse(m.data).data.imageId as string)

  it('streams the owner’s own image.ready, image.failed and image.deleted, and nobody else’s', async () => {
    const { harness, base } = await start()
    const alice = await stream(base, harness.alice)
    expect(alice.status).toBe(200)
    expect(alice.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    await eventually(() => alice.lastEventId() !== undefined, { message: 'the opening id' })

    const bobsImage = (await harness.upload(await makeJpeg(), 'image/jpeg', {}, harness.bob)).json()
    const ready = (await harness.upload(await makeJpeg(), 'image/jpeg')).json()
    const avif = await makeAvif(400, 300)
    const broken = (
      await harness.upload(avif.subarray(0, Math.floor(avif.length * 0.7)), 'image/avif')
    ).json()
    const [readyEvent] = await alice.waitFor('image.ready', 1)
    const [failedEvent] = await alice.waitFor('image.failed', 1)
    await harness.pf.app.inject({
      method: 'DELETE',
      url: `/v1/images/${ready.id}`,
      headers: { authorization: `Bearer ${harness.alice}` },
    })
    const [deletedEvent] = await alice.waitFor('image.deleted', 1)

    expect(JSON.parse(readyEvent!.data)).toMatchObject({
      type: 'image.ready',
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      data: { imageId: ready.id, status: 'ready' },
    })
    expect(JSON.parse(failedEvent!.data).data).toMatchObject({
      imageId: broken.id,
      status: 'failed',
      failure: { code: expect.stringMatching(/^IMAGE_(UNDECODABLE|TRUNCATED)$/) },
    })
    expect(JSON.parse(deletedEvent!.data).data).toEqual({ imageId: ready.id, status: 'deleted' })
    await eventually(
      async () => (await harness.getImage(bobsImage.id, harness.bob)).body.status === 'ready',
      { timeoutMs: 20_000, message: "bob's image ready" },
    )
    expect(imageIdsOf(alice.messages)).not.toContain(bobsImage.id)
    expect(alice.messages.every((m) => m.id && decodePosition(m.id))).toBe(true)
    // Heartbeats keep the stream alive.
    await eventually(() => alice.comments() >= 2, { message: 'heartbeats' })
  })

  it('resumes after Last-Event-ID with exactly the missed events, also as ?lastEventId=', async () => {
    const { harness, base } = await start()
    const first = await stream(base, harness.alice)
    const a = (await harness.upload(await makeJpeg(320, 240), 'image/jpeg')).json()
    await first.waitFor('image.ready', 1)
    first.close()
    const resumeFrom = first.lastEventId() as string

    const missed = []
    for (let i = 0; i < 3; i++)
      missed.push((await harness.upload(await makeJpeg(330 + i, 240), 'image/jpeg')).json().id)
    for (const id of missed) await harness.waitSettled(id)

    const resumed = await stream(base, harness.alice, { 'last-event-id': resumeFrom })
    const events = await resumed.waitFor('image.ready', 3)
    expect(imageIdsOf(events).sort()).toEqual([...missed].sort())
    expect(imageIdsOf(events)).not.toContain(a.id)
    const byQuery = await openSse(`${base}/v1/events?lastEventId=${resumeFrom}`, {
      authorization: `Bearer ${harness.alice}`,
    })
    clients.push(byQuery)
    expect(imageIdsOf(await byQuery.waitFor('image.ready', 3)).sort()).toEqual([...missed].sort())
    // Nothing more arrives: no duplicates.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(resumed.messages.filter((m) => m.event === 'image.ready')).toHaveLength(3)
  })

  it('refuses a forged id, a credential without images:read and a stream over the owner’s limit', async () => {
    const { harness, base } = await start({ PIXELFLOW_EVENTS_MAX_STREAMS_PER_OWNER: '1' })
    const forged = await stream(base, harness.alice, { 'last-event-id': 'bm90IGFuIGlk' })
    expect(forged.status).toBe(400)
    const writeOnly = (await harness.pf.deps.apiKeys.create('carol', ['images:write'])).key
    expect((await stream(base, writeOnly)).status).toBe(403)
    const one = await stream(base, harness.alice)
    expect(one.status).toBe(200)
    const two = await stream(base, harness.alice)
    expect(two.status).toBe(429)
    expect(two.headers.get('retry-after')).toBe('5')
    expect((await stream(base, harness.bob)).status).toBe(200) // another owner has its own slots
    one.close()
    await eventually(async () => (await stream(base, harness.alice)).status === 200, {
      message: 'the slot is freed when the client leaves',
    })
  })

  it('an id older than the retention gets `event: reset`, then the stream goes on', async () => {
    const { harness, base } = await start()
    const first = await stream(base, harness.alice)
    await eventually(() => first.lastEventId() !== undefined, { message: 'the opening id' })
    first.close()
    const old = first.lastEventId() as string
    const image = (await harness.upload(await makeJpeg(), 'image/jpeg')).json()
    await harness.waitSettled(image.id)
    for (const handle of harness.pf.deps.metadata.shards())
      await (await harness.pf.deps.metadata.shard(handle.id)).pruneEvents(Date.now() + 1000)
    const resumed = await stream(base, harness.alice, { 'last-event-id': old })
    const [reset] = await resumed.waitFor('reset', 1)
    expect(JSON.parse(reset!.data).reason).toBe('expired')
    const next = (await harness.upload(await makeJpeg(300, 200), 'image/jpeg')).json()
    expect(imageIdsOf(await resumed.waitFor('image.ready', 1))).toEqual([next.id])
  })

  it('is in the OpenAPI document as a text/event-stream', async () => {
    const { harness } = await start()
    const doc = (await harness.pf.app.inject({ url: '/openapi.json' })).json()
    const get = doc.paths['/v1/events'].get
    expect(Object.keys(get.responses['200'].content)).toEqual(['text/event-stream'])
    expect(get.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'last-event-id',
      'lastEventId',
    ])
  })

  it('open streams do not hold up a shutdown', async () => {
    const { harness, base } = await start()
    const open = await Promise.all([stream(base, harness.alice), stream(base, harness.bob)])
    const started = Date.now()
    await harness.close()
    h = undefined
    expect(Date.now() - started).toBeLessThan(5_000)
    await Promise.all(open.map((client) => client.ended))
  })

  it('a stream the client has left does not hold up a shutdown either', async () => {
    const { harness, base } = await start()
    const left = await stream(base, harness.alice)
    await eventually(() => left.lastEventId() !== undefined, { message: 'the opening id' })
    left.close()
    await left.ended
    // undici opens a fresh connection once the stream is abandoned, which sends no request.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const started = Date.now()
    await harness.close()
    h = undefined
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})
