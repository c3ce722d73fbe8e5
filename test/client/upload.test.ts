import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PixelflowError } from '../../packages/client/src/index.js'
import { makeJpeg, makePngAlpha } from '../fixtures/images.js'
import { type ClientServer, progressLog, rejection, startClientServer } from './server.js'

describe('client uploads against a real server', () => {
  let s: ClientServer
  let dir: string
  /** A different picture each call, so no upload is answered by content dedupe of another. */
  let size = 900
  const picture = () => makeJpeg(size++, 700)

  beforeAll(async () => {
    s = await startClientServer()
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-client-'))
  })
  afterAll(async () => {
    await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function expectAccepted(image: { id: string; status: string; bytes: number }, n: number) {
    expect(image.status).toBe('queued')
    expect(image.bytes).toBe(n)
    const ready = await s.client().waitUntilReady(image.id, { timeoutMs: 30_000 })
    expect(ready.status).toBe('ready')
    expect(ready.variants.length).toBeGreaterThan(0)
  }

  it('uploads a file by path, with progress up to the file size', async () => {
    const bytes = await picture()
    const path = join(dir, 'cat.jpg')
    await writeFile(path, bytes)
    const progress = progressLog()
    const image = await s.client().upload(path, { onProgress: progress.onProgress })
    expect(progress.events.length).toBeGreaterThan(1)
    expect(progress.monotonic()).toBe(true)
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    expect(image.format).toBe('jpeg')
    await expectAccepted(image, bytes.length)
  })

  it('sends the content type a path names: a PNG called .jpg is refused as a mismatch', async () => {
    const path = join(dir, 'lying.jpg')
    await writeFile(path, await makePngAlpha(120, 90))
    const error = await rejection(s.client().upload(path))
    expect(error).toBeInstanceOf(PixelflowError)
    expect(error).toMatchObject({ code: 'CONTENT_TYPE_MISMATCH', status: 415 })
  })

  it('uploads a Buffer (application/octet-stream) with progress', async () => {
    const bytes = await picture()
    const progress = progressLog()
    const image = await s.client().upload(bytes, { onProgress: progress.onProgress })
    expect(progress.events.length).toBeGreaterThan(1)
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    await expectAccepted(image, bytes.length)
  })

  it('uploads a Node Readable (file stream): total becomes known at the end', async () => {
    const bytes = await picture()
    const path = join(dir, 'stream.jpg')
    await writeFile(path, bytes)
    const progress = progressLog()
    const image = await s.client().upload(createReadStream(path, { highWaterMark: 16 * 1024 }), {
      onProgress: progress.onProgress,
    })
    expect(progress.events.length).toBeGreaterThan(2)
    expect(progress.events[0]!.total).toBeUndefined()
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    await expectAccepted(image, bytes.length)
  })

  it('uploads a web ReadableStream, typed by the filename option', async () => {
    const bytes = await picture()
    const stream = Readable.toWeb(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]))
    const progress = progressLog()
    const image = await s.client().upload(stream as ReadableStream<Uint8Array>, {
      filename: 'x.jpeg',
      onProgress: progress.onProgress,
    })
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    await expectAccepted(image, bytes.length)
  })

  it('uploads a Blob/File, private, with progress', async () => {
    const bytes = await picture()
    const file = new File([new Uint8Array(bytes)], 'photo.jpg', { type: 'image/jpeg' })
    const progress = progressLog()
    const image = await s
      .client()
      .upload(file, { visibility: 'private', onProgress: progress.onProgress })
    expect(image.visibility).toBe('private')
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    await expectAccepted(image, bytes.length)
  })

  it('uploads without progress too (the body goes as it is)', async () => {
    const bytes = await picture()
    const image = await s.client().upload(new Uint8Array(bytes).buffer)
    await expectAccepted(image, bytes.length)
  })

  it('answers refusals as typed errors with the server code, detail and request id', async () => {
    const client = s.client()
    const text = Buffer.from('hello, I am not a picture\n'.repeat(20))
    const notImage = await rejection(client.upload(text, { contentType: 'image/jpeg' }))
    expect(notImage).toBeInstanceOf(PixelflowError)
    expect(notImage).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 })
    expect(notImage.detail.length).toBeGreaterThan(0)
    expect(notImage.requestId).toMatch(/.+/)

    const jpeg = await picture()
    const truncated = await rejection(
      client.upload(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), { filename: 'cut.jpg' }),
    )
    expect(truncated).toMatchObject({ code: 'IMAGE_TRUNCATED', status: 422 })

    const missing = await rejection(client.images.get('img_nope'))
    expect(missing).toMatchObject({ code: 'IMAGE_NOT_FOUND', status: 404 })

    const stranger = s.client({ apiKey: 'pf_not_a_key' })
    await expect(stranger.images.list()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      status: 401,
    })
  })

  it('lists, iterates over every page, builds variant URLs and deletes', async () => {
    const client = s.client({ apiKey: s.h.bob })
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await client.upload(await picture())).id)
    const first = await client.images.list({ limit: 2 })
    expect(first.items).toHaveLength(2)
    expect(first.nextCursor).not.toBeNull()
    const all: string[] = []
    for await (const image of client.images.iterate({ limit: 2 })) all.push(image.id)
    expect(all.sort()).toEqual([...ids].sort())

    const ready = await client.waitUntilReady(ids[0]!)
    const variant = ready.variants[0]!
    expect(client.images.variantUrl(ready, variant.name, variant.format)).toBe(variant.url)
    expect(client.images.variantUrl(ready.id, 'thumb', 'jpeg')).toBe(
      `${s.url}/i/${ready.id}/thumb.jpg`,
    )
    expect(() => client.images.variantUrl(ready, 'no-such-preset')).toThrow(PixelflowError)

    await client.images.delete(ids[0]!)
    await expect(client.images.get(ids[0]!)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' })
  })

  it('sends an Idempotency-Key of its own, or the one given', async () => {
    const bytes = await picture()
    const client = s.client()
    const a = await client.upload(bytes, { idempotencyKey: 'client-test-key-1' })
    const b = await client.upload(bytes, { idempotencyKey: 'client-test-key-1' })
    expect(b.id).toBe(a.id)
  })
})
