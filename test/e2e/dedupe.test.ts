import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeAvif, makeJpeg } from '../fixtures/images.js'

/** Content dedupe: the same bytes from the same owner are the same image (PIXELFLOW_DEDUPE). */
describe('content dedupe', () => {
  let h: Harness
  beforeAll(async () => {
    // The harness turns dedupe off for other suites; this one runs the default.
    h = await startHarness({ PIXELFLOW_DEDUPE: 'true' })
  })
  afterAll(() => h.close())

  const originals = async () =>
    (await h.pf.deps.store.list('images/')).filter((k) => k.endsWith('/original')).length

  /** Rows, jobs and originals: what a duplicate must not add. */
  const kept = async () => {
    const { rows, outbox } = await h.leftovers()
    return { rows, originals: await originals(), outbox }
  }

  it('the same bytes again → 200, Pixelflow-Deduplicated, the existing image, nothing stored', async () => {
    const body = await makeJpeg(400, 300)
    const first = await h.upload(body, 'image/jpeg')
    expect(first.statusCode).toBe(202)
    expect(first.headers['pixelflow-deduplicated']).toBeUndefined()
    const ready = await h.waitSettled(first.json().id)
    const before = await kept()
    // Another way of sending the same bytes (a raw body declared as octet-stream) changes nothing.
    const again = await h.upload(body, 'application/octet-stream')
    expect(again.statusCode).toBe(200)
    expect(again.headers['pixelflow-deduplicated']).toBe('true')
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.json()).toMatchObject({ id: ready.id, status: 'ready', sha256: ready.sha256 })
    expect(await kept()).toEqual(before)
  })

  it('a new Idempotency-Key does not make the same bytes a new image', async () => {
    const body = await makeJpeg(401, 300)
    const first = await h.upload(body, 'image/jpeg', { 'idempotency-key': 'dd-1' })
    const second = await h.upload(body, 'image/jpeg', { 'idempotency-key': 'dd-2' })
    expect(second.statusCode).toBe(200)
    expect(second.json().id).toBe(first.json().id)
    // The first key still replays as itself.
    const replay = await h.upload(body, 'image/jpeg', { 'idempotency-key': 'dd-1' })
    expect(replay.statusCode).toBe(202)
    expect(replay.headers['idempotent-replayed']).toBe('true')
  })

  it('per owner only: the same bytes from another owner are another image', async () => {
    const body = await makeJpeg(402, 300)
    const alices = await h.upload(body, 'image/jpeg')
    const bobs = await h.upload(body, 'image/jpeg', {}, h.bob)
    expect(bobs.statusCode).toBe(202)
    expect(bobs.headers['pixelflow-deduplicated']).toBeUndefined()
    expect(bobs.json().id).not.toBe(alices.json().id)
  })

  it('the same bytes with another visibility are another image', async () => {
    const body = await makeJpeg(403, 300)
    const pub = await h.upload(body, 'image/jpeg')
    const res = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/images?visibility=private',
      payload: body,
      headers: { authorization: `Bearer ${h.alice}`, 'content-type': 'image/jpeg' },
    })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ visibility: 'private' })
    expect(res.json().id).not.toBe(pub.json().id)
  })

  it('a deleted image is no target: the bytes make a new image', async () => {
    const body = await makeJpeg(404, 300)
    const first = (await h.upload(body, 'image/jpeg')).json()
    await h.waitSettled(first.id)
    const deleted = await h.pf.app.inject({
      method: 'DELETE',
      url: `/v1/images/${first.id}`,
      headers: { authorization: `Bearer ${h.alice}` },
    })
    expect(deleted.statusCode).toBe(204)
    const again = await h.upload(body, 'image/jpeg')
    expect(again.statusCode).toBe(202)
    expect(again.json().id).not.toBe(first.id)
  })

  it('a failed image is no target: uploading the bytes again makes a new image', async () => {
    // A cut-off AVIF passes the upload checks and fails in the worker.
    const avif = await makeAvif(400, 300)
    const broken = avif.subarray(0, Math.floor(avif.length * 0.7))
    const first = (await h.upload(broken, 'image/avif')).json()
    expect((await h.waitSettled(first.id)).status).toBe('failed')
    const again = await h.upload(broken, 'image/avif')
    expect(again.statusCode).toBe(202)
    expect(again.json().id).not.toBe(first.id)
  })

  it('uploads of the same bytes at once make one image: one 202, the others 200', async () => {
    const body = await makeJpeg(405, 300)
    const before = await kept()
    const answers = await Promise.all(Array.from({ length: 5 }, () => h.upload(body, 'image/jpeg')))
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 200, 200, 202])
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1)
    const after = await kept()
    expect(after.rows).toBe(before.rows + 1)
    expect(after.originals).toBe(before.originals + 1)
  })
})

describe('content dedupe switched off (PIXELFLOW_DEDUPE=false)', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_DEDUPE: 'false' })
  })
  afterAll(() => h.close())

  it('the same bytes again make a new image', async () => {
    const body = await makeJpeg(406, 300)
    const first = await h.upload(body, 'image/jpeg')
    const second = await h.upload(body, 'image/jpeg')
    expect([first.statusCode, second.statusCode]).toEqual([202, 202])
    expect(second.json().id).not.toBe(first.json().id)
    expect(second.headers['pixelflow-deduplicated']).toBeUndefined()
  })
})
