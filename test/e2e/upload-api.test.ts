import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg, makePngAlpha } from '../fixtures/images.js'

/** POST /v1/images as a client sees it: its OpenAPI description, idempotency, content types. */
describe('the upload API as a client sees it', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())

  const originals = async () =>
    (await h.pf.deps.store.list('images/')).filter((k) => k.endsWith('/original')).length

  /**
   * Rows and originals: what a refused upload must not add (workers add variants meanwhile). The
   * outbox is left out: the relay drains an earlier upload's job while the test runs, so its count
   * moves on its own (a refused upload writes no row, so it cannot write the row's job either).
   */
  const kept = async () => {
    const { rows } = await h.leftovers()
    return { rows, originals: await originals() }
  }

  /** A raw request exactly as curl --data-binary sends it with the Content-Type header removed. */
  const rawWithoutType = (payload: Buffer, headers: Record<string, string> = {}) =>
    h.pf.app.inject({
      method: 'POST',
      url: '/v1/images',
      payload,
      headers: { authorization: `Bearer ${h.alice}`, ...headers },
    })

  /** A multipart form with the given fields in order, encoded by the platform's FormData. */
  async function postForm(fields: [string, string | Blob][], query = '') {
    const form = new FormData()
    for (const [name, value] of fields)
      if (typeof value === 'string') form.append(name, value)
      else form.append(name, value, 'a.jpg')
    const request = new Request('http://x/', { method: 'POST', body: form })
    return h.pf.app.inject({
      method: 'POST',
      url: `/v1/images${query}`,
      headers: {
        authorization: `Bearer ${h.alice}`,
        'content-type': request.headers.get('content-type')!,
      },
      payload: Buffer.from(await request.arrayBuffer()),
    })
  }

  describe('/openapi.json', () => {
    let post: any
    beforeAll(async () => {
      post = (await h.pf.app.inject({ url: '/openapi.json' })).json().paths['/v1/images'].post
    })

    it('describes a multipart body with a binary "file" and an optional visibility', () => {
      const form = post.requestBody.content['multipart/form-data'].schema
      expect(form.required).toEqual(['file'])
      expect(form.properties.file).toMatchObject({ type: 'string', format: 'binary' })
      expect(form.properties.visibility).toBeDefined()
    })

    it('describes raw image bodies as binary, and the JSON {url} body', () => {
      const content = post.requestBody.content
      for (const type of ['image/jpeg', 'image/png', 'image/webp', 'application/octet-stream'])
        expect(content[type].schema, type).toEqual({ type: 'string', format: 'binary' })
      const json = content['application/json'].schema
      expect(json.required).toEqual(['url'])
      expect(Object.keys(json.properties)).toEqual(['url', 'visibility'])
    })

    it('says visibility is optional, without a default it does not apply', () => {
      const visibility = post.parameters.find((p: any) => p.name === 'visibility')
      expect(visibility.required).toBe(false)
      expect(visibility.schema.default).toBeUndefined()
    })

    it('documents the 200 of a duplicate and the replay header of a 202', () => {
      expect(Object.keys(post.responses[202].headers)).toEqual(['idempotent-replayed'])
      expect(Object.keys(post.responses[200].headers)).toEqual(['pixelflow-deduplicated'])
      expect(post.responses[202].content['application/json'].schema.$ref).toBe(
        '#/components/schemas/Image',
      )
    })
  })

  describe('Idempotency-Key', () => {
    it('a replay (same key, same bytes) answers 202 with the first image and says so', async () => {
      const body = await makeJpeg(310, 200)
      const headers = { 'idempotency-key': 'replay-1' }
      const first = await h.upload(body, 'image/jpeg', headers)
      expect(first.statusCode).toBe(202)
      expect(first.headers['idempotent-replayed']).toBeUndefined()
      const before = await originals()
      const again = await h.upload(body, 'image/jpeg', headers)
      expect(again.statusCode).toBe(202)
      expect(again.headers['idempotent-replayed']).toBe('true')
      expect(again.headers.location).toBe(first.headers.location)
      expect(again.json().id).toBe(first.json().id)
      expect(await originals()).toBe(before)
    })

    it('the same key with other bytes → 422 IDEMPOTENCY_KEY_MISMATCH, nothing kept', async () => {
      const headers = { 'idempotency-key': 'mismatch-1' }
      const first = await h.upload(await makeJpeg(320, 200), 'image/jpeg', headers)
      expect(first.statusCode).toBe(202)
      const before = await kept()
      const other = await h.upload(await makeJpeg(321, 200), 'image/jpeg', headers)
      expect(other.statusCode).toBe(422)
      expect(other.json().code).toBe('IDEMPOTENCY_KEY_MISMATCH')
      expect(await kept()).toEqual(before)
      // The first image is untouched and still answers the key.
      const replay = await h.upload(await makeJpeg(320, 200), 'image/jpeg', headers)
      expect(replay.json().id).toBe(first.json().id)
    })

    it('the same key and bytes with another visibility is a mismatch too', async () => {
      const body = await makeJpeg(330, 200)
      const headers = { 'idempotency-key': 'visibility-1' }
      expect((await h.upload(body, 'image/jpeg', headers)).statusCode).toBe(202)
      const res = await h.pf.app.inject({
        method: 'POST',
        url: '/v1/images?visibility=private',
        payload: body,
        headers: { authorization: `Bearer ${h.alice}`, 'content-type': 'image/jpeg', ...headers },
      })
      expect(res.statusCode).toBe(422)
      expect(res.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_MISMATCH' })
      expect(res.json().detail).toMatch(/public upload/)
    })

    it('two requests racing with one key and different bytes: one image, one 422', async () => {
      const headers = { 'idempotency-key': 'race-1' }
      const answers = await Promise.all([
        h.upload(await makeJpeg(340, 200), 'image/jpeg', headers),
        h.upload(await makeJpeg(341, 200), 'image/jpeg', headers),
      ])
      expect(answers.map((a) => a.statusCode).sort()).toEqual([202, 422])
      expect(answers.find((a) => a.statusCode === 422)!.json().code).toBe(
        'IDEMPOTENCY_KEY_MISMATCH',
      )
    })
  })

  describe('a raw body without Content-Type', () => {
    it('is sniffed: a JPEG becomes a JPEG image, a PNG a PNG image', async () => {
      const jpeg = await rawWithoutType(await makeJpeg(350, 200))
      expect(jpeg.statusCode, jpeg.body).toBe(202)
      expect(jpeg.json().format).toBe('jpeg')
      const png = await rawWithoutType(await makePngAlpha(100, 80))
      expect(png.statusCode, png.body).toBe(202)
      expect(png.json().format).toBe('png')
      expect((await h.waitSettled(png.json().id)).status).toBe('ready')
    })

    it('that is not an image → 415 UNSUPPORTED_MEDIA_TYPE, nothing kept', async () => {
      const before = await kept()
      const res = await rawWithoutType(Buffer.from('just some text\n'.repeat(20)))
      expect(res.statusCode).toBe(415)
      expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE')
      expect(await kept()).toEqual(before)
    })

    it('a type nobody takes → 415 naming the types to send', async () => {
      for (const type of ['application/pdf', 'text/plain']) {
        const res = await h.upload(await makeJpeg(), type)
        expect(res.statusCode, type).toBe(415)
        expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE')
        expect(res.json().detail).toMatch(/image\/jpeg.*application\/octet-stream.*no Content-Type/)
        expect(res.json().detail).toMatch(/multipart\/form-data.*application\/json/)
      }
    })
  })

  describe('visibility', () => {
    const jpegBlob = async (w: number) =>
      new Blob([new Uint8Array(await makeJpeg(w, 100))], { type: 'image/jpeg' })

    it('is public without being asked for', async () => {
      expect((await h.upload(await makeJpeg(360, 200), 'image/jpeg')).json().visibility).toBe(
        'public',
      )
    })

    it('may come as a multipart field before the file', async () => {
      const res = await postForm([
        ['visibility', 'private'],
        ['file', await jpegBlob(361)],
      ])
      expect(res.statusCode, res.body).toBe(202)
      expect(res.json().visibility).toBe('private')
    })

    it('a field after the file, an unknown value, or two different answers → 400', async () => {
      const before = await kept()
      const after = await postForm([
        ['file', await jpegBlob(362)],
        ['visibility', 'private'],
      ])
      expect(after.statusCode, after.body).toBe(400)
      expect(after.json().detail).toMatch(/before "file"/)
      const unknown = await postForm([
        ['visibility', 'secret'],
        ['file', await jpegBlob(363)],
      ])
      expect(unknown.statusCode).toBe(400)
      const conflict = await postForm(
        [
          ['visibility', 'private'],
          ['file', await jpegBlob(364)],
        ],
        '?visibility=public',
      )
      expect(conflict.statusCode).toBe(400)
      expect(conflict.json().code).toBe('BAD_REQUEST')
      expect(await kept()).toEqual(before)
    })
  })
})
