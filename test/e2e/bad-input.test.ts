import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeAvif, makeJpeg, makePixelBomb, makePngAlpha } from '../fixtures/images.js'

/** Every refusal has its own stable code and leaves no object, row or job behind. */
describe('hostile and broken uploads', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_MAX_UPLOAD_BYTES: String(200 * 1024) })
  })
  afterAll(() => h.close())

  async function expectRefused(body: Buffer, type: string, status: number, code: string) {
    const res = await h.upload(body, type)
    expect(res.statusCode, res.body).toBe(status)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ status, code })
    expect(await h.leftovers()).toEqual({ objects: [], rows: 0, outbox: 0 })
  }

  /** A multipart/form-data upload with one part, encoded by the platform's own FormData. */
  async function postForm(field: string, blob: Blob, filename: string) {
    const form = new FormData()
    form.append(field, blob, filename)
    const request = new Request('http://x/', { method: 'POST', body: form })
    return h.pf.app.inject({
      method: 'POST',
      url: '/v1/images',
      headers: {
        authorization: `Bearer ${h.alice}`,
        'content-type': request.headers.get('content-type')!,
      },
      payload: Buffer.from(await request.arrayBuffer()),
    })
  }

  it('an empty body → 400 EMPTY_UPLOAD', async () => {
    await expectRefused(Buffer.alloc(0), 'image/jpeg', 400, 'EMPTY_UPLOAD')
  })

  it('a text file sent as a JPEG → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    await expectRefused(
      Buffer.from('hello, I am not a picture\n'.repeat(20)),
      'image/jpeg',
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    )
  })

  it('a text file named .jpg in a multipart form → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await postForm(
      'file',
      new Blob(['just text, not a jpeg\n'.repeat(10)], { type: 'image/jpeg' }),
      'cat.jpg',
    )
    expect(res.statusCode, res.body).toBe(415)
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE')
    expect(await h.leftovers()).toEqual({ objects: [], rows: 0, outbox: 0 })
  })

  it('a truncated JPEG → 422 IMAGE_TRUNCATED', async () => {
    const jpeg = await makeJpeg(400, 300)
    await expectRefused(
      jpeg.subarray(0, Math.floor(jpeg.length * 0.6)),
      'image/jpeg',
      422,
      'IMAGE_TRUNCATED',
    )
  })

  it('a pixel bomb (50,000 × 50,000 declared) → 422 IMAGE_TOO_MANY_PIXELS', async () => {
    await expectRefused(makePixelBomb(), 'image/png', 422, 'IMAGE_TOO_MANY_PIXELS')
  })

  it('a body over the byte limit → 413 UPLOAD_TOO_LARGE', async () => {
    const big = await makeJpeg(1600, 1200)
    expect(big.length).toBeGreaterThan(200 * 1024)
    await expectRefused(big, 'image/jpeg', 413, 'UPLOAD_TOO_LARGE')
  })

  it('a PNG declared as JPEG → 415 CONTENT_TYPE_MISMATCH', async () => {
    await expectRefused(await makePngAlpha(100, 80), 'image/jpeg', 415, 'CONTENT_TYPE_MISMATCH')
  })

  it('a non-image Content-Type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    await expectRefused(await makeJpeg(), 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE')
  })

  it('a multipart form without a "file" field → 400 MISSING_FILE_FIELD', async () => {
    const res = await postForm(
      'picture',
      new Blob([new Uint8Array(await makeJpeg())], { type: 'image/jpeg' }),
      'a.jpg',
    )
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().code).toBe('MISSING_FILE_FIELD')
    expect(await h.leftovers()).toEqual({ objects: [], rows: 0, outbox: 0 })
  })

  it('the service keeps accepting good uploads after all of that', async () => {
    const res = await h.upload(await makeJpeg(), 'image/jpeg')
    expect(res.statusCode).toBe(202)
    expect((await h.waitSettled(res.json().id)).status).toBe('ready')
  })
})

describe('an image that passes the header checks but cannot be decoded', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())

  it('is accepted, then failed with a reason code and no retry', async () => {
    // AVIF has no trailer to check at upload: a cut-off file has an intact header and broken pixels.
    const avif = await makeAvif(400, 300)
    const res = await h.upload(avif.subarray(0, Math.floor(avif.length * 0.7)), 'image/avif')
    expect(res.statusCode, res.body).toBe(202)
    const image = await h.waitSettled(res.json().id)
    expect(image.status).toBe('failed')
    expect(image.failure.code).toMatch(/^IMAGE_(UNDECODABLE|TRUNCATED)$/)
    const row = await h.pf.deps.metadata.forImageId(image.id)!.getImage(image.id)
    expect(row!.attempts).toBe(1)
    // The worker acks after the image row says failed; the ack is the next commit, not this one.
    await eventually(async () =>
      expect(await h.pf.deps.queue.stats()).toMatchObject({
        visible: 0,
        inFlight: 0,
        delayed: 0,
        dead: 0,
      }),
    )
  })
})
