import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg, makePngAlpha } from '../fixtures/images.js'
import { startTcpProxy } from '../fixtures/tcp-proxy.js'
import { photo, tusUpload } from '../uploads/fixtures.js'

const S3_URL = process.env.PIXELFLOW_TEST_S3_URL ?? ''
const BUCKET = process.env.PIXELFLOW_TEST_S3_BUCKET ?? 'pixelflow-test'
if (!S3_URL)
  console.info(
    'uploads.s3.test.ts skipped: start `node scripts/s3-server.mjs &` and set PIXELFLOW_TEST_S3_URL=http://127.0.0.1:4569 to run it',
  )

const s3Env = (extra: Record<string, string> = {}) => ({
  PIXELFLOW_STORAGE_DRIVER: 's3',
  PIXELFLOW_S3_BUCKET: BUCKET,
  PIXELFLOW_S3_ENDPOINT: S3_URL,
  PIXELFLOW_S3_PREFIX: `pixelflow-test/uploads-${randomUUID()}`,
  PIXELFLOW_S3_ACCESS_KEY_ID: process.env.PIXELFLOW_TEST_S3_ACCESS_KEY_ID ?? 'test',
  PIXELFLOW_S3_SECRET_ACCESS_KEY: process.env.PIXELFLOW_TEST_S3_SECRET_ACCESS_KEY ?? 'test',
  ...extra,
})

/**
 * Whether the S3 server lists a multipart upload's parts (ListParts): @tus/s3-store resumes from
 * that list. fauxqs has no such route (it answers the object, NoSuchKey); moto and S3 have.
 */
async function listsParts(): Promise<boolean> {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: S3_URL,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  })
  const Key = `pixelflow-test/probe-${randomUUID()}`
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }))
  try {
    await client.send(new ListPartsCommand({ Bucket: BUCKET, Key, UploadId }))
    return true
  } catch {
    return false
  } finally {
    await client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId }))
    client.destroy()
  }
}

async function listen(h: Harness): Promise<string> {
  await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(h.pf.app.server.address() as AddressInfo).port}`
}

describe.skipIf(!S3_URL)('direct-to-S3 uploads and tus on S3 (S3 emulator)', () => {
  let h: Harness
  let base: string
  beforeAll(async () => {
    h = await startHarness(s3Env())
    base = await listen(h)
  })
  afterAll(async () => h?.close())

  const announce = (body: Record<string, unknown>, key = h.alice) =>
    fetch(`${base}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const complete = (id: string, key = h.alice) =>
    fetch(`${base}/v1/uploads/${id}/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    })
  /** The presigned PUT as a browser would send it: the signed headers, the bytes. */
  const put = (upload: { url: string; headers: Record<string, string> }, bytes: Buffer) => {
    const { 'content-length': _length, ...headers } = upload.headers
    return fetch(upload.url, { method: 'PUT', headers, body: new Uint8Array(bytes) })
  }

  it('presigned PUT, then complete: the object becomes a ready image and the staging object goes', async () => {
    const bytes = await photo('FreshFlower.jpg')
    const res = await announce({ contentType: 'image/jpeg', bytes: bytes.length })
    expect(res.status).toBe(201)
    const created = await res.json()
    expect(created.upload.method).toBe('PUT')
    expect(created.upload.url).toContain('X-Amz-Signature=')
    expect(created.upload.url).toContain(`uploads/${created.id}`)
    expect(created.upload.headers).toEqual({
      'content-type': 'image/jpeg',
      'content-length': String(bytes.length),
    })
    // Content-Type and Content-Length are signed: S3 refuses another type or length.
    expect(new URL(created.upload.url).searchParams.get('X-Amz-SignedHeaders')).toBe(
      'content-length;content-type;host',
    )
    expect((await put(created.upload, bytes)).status).toBe(200)
    expect(await h.pf.deps.store.head(`uploads/${created.id}`)).toMatchObject({
      size: bytes.length,
    })

    const done = await complete(created.id)
    expect(done.status).toBe(202)
    const view = await done.json()
    expect((await h.waitSettled(view.id)).status).toBe('ready')
    expect(await h.pf.deps.store.head(`uploads/${created.id}`)).toBeNull()
    // Completing twice answers the same image; another owner cannot see the upload at all.
    const again = await complete(created.id)
    expect(again.status).toBe(202)
    expect((await again.json()).id).toBe(view.id)
    const foreign = await complete(created.id, h.bob)
    expect(foreign.status).toBe(404)
    expect((await foreign.json()).code).toBe('UPLOAD_NOT_FOUND')
  })

  it('refuses at completion: a missing object, the wrong size, the wrong type, bad bytes', async () => {
    const jpeg = await makeJpeg(320, 240)
    const missing = await (await announce({ contentType: 'image/jpeg', bytes: jpeg.length })).json()
    const early = await complete(missing.id)
    expect([early.status, (await early.json()).code]).toEqual([409, 'UPLOAD_OBJECT_MISSING'])

    // The emulator checks no signature, so the wrong length reaches the bucket: complete sees it.
    const sized = await (
      await announce({ contentType: 'image/jpeg', bytes: jpeg.length + 5 })
    ).json()
    await put(sized.upload, jpeg)
    const wrongSize = await complete(sized.id)
    expect([wrongSize.status, (await wrongSize.json()).code]).toEqual([422, 'UPLOAD_SIZE_MISMATCH'])

    const png = await makePngAlpha(200, 100)
    const typed = await (await announce({ contentType: 'image/jpeg', bytes: png.length })).json()
    await put(typed.upload, png)
    const wrongType = await complete(typed.id)
    expect([wrongType.status, (await wrongType.json()).code]).toEqual([
      415,
      'CONTENT_TYPE_MISMATCH',
    ])
    // Refused bytes are not kept: neither the object nor the upload.
    expect(await h.pf.deps.store.head(`uploads/${typed.id}`)).toBeNull()
    expect((await complete(typed.id)).status).toBe(404)

    const text = Buffer.from('not an image, only text')
    const junk = await (await announce({ contentType: 'image/jpeg', bytes: text.length })).json()
    await put(junk.upload, text)
    const bad = await complete(junk.id)
    expect([bad.status, (await bad.json()).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE'])
  })

  it('refuses to announce what could never be accepted', async () => {
    const svg = await announce({ contentType: 'image/svg+xml', bytes: 100 })
    expect([svg.status, (await svg.json()).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE'])
    const big = await announce({
      contentType: 'image/jpeg',
      bytes: h.config.limits.maxUploadBytes + 1,
    })
    expect([big.status, (await big.json()).code]).toEqual([413, 'UPLOAD_TOO_LARGE'])
  })

  it('an upload token can announce and complete, within its maxBytes', async () => {
    const minted = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/upload-tokens',
      headers: { authorization: `Bearer ${h.alice}` },
      payload: { maxBytes: 100_000, visibility: 'private' },
    })
    const { token } = minted.json()
    const jpeg = await makeJpeg(300, 200)
    const created = await (
      await announce({ contentType: 'image/jpeg', bytes: jpeg.length }, token)
    ).json()
    await put(created.upload, jpeg)
    const done = await complete(created.id, token)
    expect(done.status).toBe(202)
    expect((await done.json()).visibility).toBe('private')
    const big = await announce({ contentType: 'image/jpeg', bytes: 100_001 }, token)
    expect(big.status).toBe(413)
  })

  it('tus on the S3 store: a chunked upload cut mid-way resumes, becomes a ready image, and its objects go', async (ctx) => {
    if (!(await listsParts())) {
      console.info(
        'tus on S3 skipped: this S3 server has no ListParts (fauxqs), which @tus/s3-store needs; run `moto_server -p 4590` and PIXELFLOW_TEST_S3_URL=http://127.0.0.1:4590',
      )
      ctx.skip()
    }
    const bytes = await photo('Autumn.jpg')
    let sawTusObjects = false
    let cut = false
    let retries = 0
    const { port } = h.pf.app.server.address() as AddressInfo
    const proxy = await startTcpProxy('127.0.0.1', port)
    const result = await tusUpload(bytes, {
      endpoint: `http://127.0.0.1:${proxy.port}/v1/tus`,
      token: h.alice,
      chunkSize: 256 * 1024,
      retryDelays: [200, 400, 800, 1600, 3200],
      onRetry: () => retries++,
      onProgress: (sent, total) => {
        void h.pf.deps.store.list('tus/').then((keys) => {
          if (keys.length > 0) sawTusObjects = true
        })
        if (!cut && sent > total * 0.4) {
          cut = true
          void proxy.down().then(() => setTimeout(() => void proxy.up(), 300))
        }
      },
    }).finally(() => proxy.close())
    expect(retries).toBeGreaterThan(0)
    const id = result.headers['pixelflow-image-id']!
    const ready = await h.waitSettled(id)
    expect(ready).toMatchObject({ status: 'ready', bytes: bytes.length })
    const uploadId = result.url.split('/').pop()!
    // tus's objects lived under the store's prefix, and are gone once the image exists.
    expect(uploadId).toMatch(/^[0-9a-f]{32}$/)
    await eventually(async () => expect(await h.pf.deps.store.list('tus/')).toEqual([]))
    expect(sawTusObjects).toBe(true)
  })
})

describe.skipIf(!S3_URL)('direct uploads never completed', () => {
  let h: Harness
  let base: string
  beforeAll(async () => {
    h = await startHarness(
      s3Env({ PIXELFLOW_UPLOAD_EXPIRY_SECONDS: '1', PIXELFLOW_UPLOAD_SWEEP_INTERVAL_MS: '200' }),
    )
    base = await listen(h)
  })
  afterAll(async () => h?.close())

  it('are removed, object and row, by the relay role sweep after their deadline', async () => {
    const jpeg = await makeJpeg(200, 200)
    const res = await fetch(`${base}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ contentType: 'image/jpeg', bytes: jpeg.length }),
    })
    const created = await res.json()
    const { 'content-length': _length, ...headers } = created.upload.headers
    expect((await fetch(created.upload.url, { method: 'PUT', headers, body: jpeg })).status).toBe(
      200,
    )
    expect(await h.pf.deps.store.head(`uploads/${created.id}`)).not.toBeNull()
    await eventually(
      async () => expect(await h.pf.deps.store.head(`uploads/${created.id}`)).toBeNull(),
      { timeoutMs: 10_000 },
    )
    const late = await fetch(`${base}/v1/uploads/${created.id}/complete`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.alice}` },
    })
    expect([late.status, (await late.json()).code]).toEqual([404, 'UPLOAD_NOT_FOUND'])
  })
})

describe('direct uploads without S3', () => {
  it('answer DIRECT_UPLOAD_UNAVAILABLE', async () => {
    const h = await startHarness()
    try {
      const res = await h.pf.app.inject({
        method: 'POST',
        url: '/v1/uploads',
        headers: { authorization: `Bearer ${h.alice}` },
        payload: { contentType: 'image/jpeg', bytes: 1000 },
      })
      expect(res.statusCode).toBe(501)
      expect(res.json().code).toBe('DIRECT_UPLOAD_UNAVAILABLE')
    } finally {
      await h.close()
    }
  })
})
