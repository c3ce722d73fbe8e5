import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { startTcpProxy, type TcpProxy } from '../fixtures/tcp-proxy.js'
import { photo, refusalOf, tusUpload } from './fixtures.js'

const TUS = { 'tus-resumable': '1.0.0' }

describe('tus resumable uploads (local file store, tus-js-client)', () => {
  let h: Harness
  let proxy: TcpProxy
  let direct: string
  let viaProxy: string

  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_UPLOAD_SWEEP_INTERVAL_MS: '200' })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.pf.app.server.address() as AddressInfo
    direct = `http://127.0.0.1:${port}`
    proxy = await startTcpProxy('127.0.0.1', port)
    viaProxy = `http://127.0.0.1:${proxy.port}`
  })
  afterAll(async () => {
    await proxy?.close()
    await h?.close()
  })

  const tusFiles = async () => readdir(h.config.uploads.tusDirectory).catch(() => [])

  it('resumes a chunked upload after the connection is cut, and the image becomes ready', async () => {
    const bytes = await photo('Blinds.jpg')
    let cut = false
    let retries = 0
    const result = await tusUpload(bytes, {
      endpoint: `${viaProxy}/v1/tus`,
      token: h.alice,
      chunkSize: 128 * 1024,
      retryDelays: [200, 400, 800, 1600, 3200],
      onRetry: () => retries++,
      onProgress(sent, total) {
        // Mid-way through a chunk: every open connection is cut, and the proxy refuses for a while.
        if (!cut && sent > total * 0.4) {
          cut = true
          void proxy.down().then(() => setTimeout(() => void proxy.up(), 300))
        }
      },
    })
    expect(cut).toBe(true)
    expect(retries).toBeGreaterThan(0)
    expect(result.status).toBe(200)
    const view = JSON.parse(result.body)
    expect(result.headers['pixelflow-image-id']).toBe(view.id)
    expect(result.headers['content-type']).toMatch(/^application\/json/)
    expect(view.status).toBe('queued')

    const ready = await h.waitSettled(view.id)
    expect(ready.status).toBe('ready')
    const meta = await sharp(bytes).metadata()
    expect([ready.width, ready.height]).toEqual([meta.width, meta.height])
    expect(ready.bytes).toBe(bytes.length)
    // The stored original is the file, byte for byte: the resumed upload lost and doubled nothing.
    const original = await h.pf.deps.store.get(`images/${view.id}/original`)
    const hash = createHash('sha256')
    for await (const chunk of original!) hash.update(chunk as Buffer)
    expect(hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'))
    // The tus file is removed once it became an image.
    await eventually(async () => expect(await tusFiles()).toEqual([]))
  })

  it('refuses bad bytes with the same error a plain upload gets, and keeps nothing', async () => {
    const cases = [
      {
        bytes: Buffer.from('this is not an image at all, only some text'),
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      { bytes: (await makeJpeg(400, 300)).subarray(0, 3000), code: 'IMAGE_TRUNCATED' },
    ]
    const before = (await h.leftovers()).objects
    for (const { bytes, code } of cases) {
      const plain = await h.upload(bytes)
      expect(plain.json().code).toBe(code)
      const refused = await tusUpload(bytes, { endpoint: `${direct}/v1/tus`, token: h.alice }).then(
        () => expect.fail('the tus upload was accepted'),
        refusalOf,
      )
      expect(refused.status).toBe(plain.statusCode)
      expect(refused.body.code).toBe(code)
    }
    await eventually(async () => expect(await tusFiles()).toEqual([]))
    expect((await h.leftovers()).objects).toEqual(before)
  })

  it('a declared type that disagrees with the bytes is refused as for a plain upload', async () => {
    const refused = await tusUpload(await makeJpeg(200, 100), {
      endpoint: `${direct}/v1/tus`,
      token: h.alice,
      metadata: { filetype: 'image/png' },
    }).then(() => expect.fail('accepted'), refusalOf)
    expect(refused).toMatchObject({ status: 415, body: { code: 'CONTENT_TYPE_MISMATCH' } })
  })

  it('an upload belongs to its creator: another owner gets 404, without credentials 401', async () => {
    const created = await fetch(`${direct}/v1/tus`, {
      method: 'POST',
      headers: { ...TUS, authorization: `Bearer ${h.alice}`, 'upload-length': '1000' },
    })
    expect(created.status).toBe(201)
    const location = created.headers.get('location')!
    expect(location).toMatch(/^\/v1\/tus\/[0-9a-f]+$/)
    const head = (key: string) =>
      fetch(direct + location, {
        method: 'HEAD',
        headers: { ...TUS, authorization: `Bearer ${key}` },
      })
    const own = await head(h.alice)
    expect(own.status).toBe(200)
    expect(own.headers.get('upload-offset')).toBe('0')
    // The hijacked answer still carries our headers, and a browser may read the image id.
    expect(own.headers.get('x-request-id')).toBeTruthy()
    expect(own.headers.get('x-content-type-options')).toBe('nosniff')
    expect(own.headers.get('access-control-allow-origin')).toBe('*')
    expect(own.headers.get('access-control-expose-headers')).toMatch(/Pixelflow-Image-Id/)
    expect(own.headers.get('access-control-expose-headers')).toMatch(/Upload-Offset/)
    expect((await head(h.bob)).status).toBe(404)
    const patch = await fetch(direct + location, {
      method: 'PATCH',
      headers: {
        ...TUS,
        authorization: `Bearer ${h.bob}`,
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      },
      body: Buffer.alloc(10),
    })
    expect(patch.status).toBe(404)
    expect((await patch.json()).code).toBe('UPLOAD_NOT_FOUND')
    expect((await fetch(direct + location, { method: 'HEAD', headers: TUS })).status).toBe(401)
    // Still untouched for its owner.
    expect((await head(h.alice)).headers.get('upload-offset')).toBe('0')
  })

  it('an Upload-Length over the upload limit is refused at creation with UPLOAD_TOO_LARGE', async () => {
    const res = await fetch(`${direct}/v1/tus`, {
      method: 'POST',
      headers: {
        ...TUS,
        authorization: `Bearer ${h.alice}`,
        'upload-length': String(h.config.limits.maxUploadBytes + 1),
      },
    })
    expect(res.status).toBe(413)
    expect((await res.json()).code).toBe('UPLOAD_TOO_LARGE')
  })

  it('refuses at creation what the pipeline would refuse at the end: a bad key or visibility', async () => {
    const create = (headers: Record<string, string>) =>
      fetch(`${direct}/v1/tus`, {
        method: 'POST',
        headers: { ...TUS, authorization: `Bearer ${h.alice}`, 'upload-length': '100', ...headers },
      })
    const key = await create({ 'idempotency-key': 'has a space' })
    expect([key.status, (await key.json()).code]).toEqual([400, 'IDEMPOTENCY_KEY_INVALID'])
    const visibility = await create({
      'upload-metadata': `visibility ${Buffer.from('secret').toString('base64')}`,
    })
    expect([visibility.status, (await visibility.json()).code]).toEqual([400, 'BAD_REQUEST'])
  })

  it('the same Idempotency-Key (metadata or header) makes one image', async () => {
    const bytes = await makeJpeg(320, 240)
    const first = await tusUpload(bytes, {
      endpoint: `${direct}/v1/tus`,
      token: h.alice,
      metadata: { filetype: 'image/jpeg', idempotencyKey: 'tus-once-1' },
    })
    const second = await tusUpload(bytes, {
      endpoint: `${direct}/v1/tus`,
      token: h.alice,
      headers: { 'idempotency-key': 'tus-once-1' },
    })
    expect(second.headers['pixelflow-image-id']).toBe(first.headers['pixelflow-image-id'])
    const plain = await h.upload(bytes, 'image/jpeg', { 'idempotency-key': 'tus-once-1' })
    expect(plain.json().id).toBe(first.headers['pixelflow-image-id'])
  })

  it('a private upload through tus gets signed variant URLs', async () => {
    const result = await tusUpload(await makeJpeg(320, 240), {
      endpoint: `${direct}/v1/tus`,
      token: h.alice,
      metadata: { filetype: 'image/jpeg', visibility: 'private' },
    })
    expect(JSON.parse(result.body).visibility).toBe('private')
  })
})

describe('tus expiry', () => {
  let h: Harness
  let base: string
  beforeAll(async () => {
    h = await startHarness({
      PIXELFLOW_UPLOAD_EXPIRY_SECONDS: '1',
      PIXELFLOW_UPLOAD_SWEEP_INTERVAL_MS: '200',
    })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(h.pf.app.server.address() as AddressInfo).port}`
  })
  afterAll(async () => h?.close())

  it('an incomplete upload is removed by the relay role sweep after its deadline', async () => {
    const auth = { ...TUS, authorization: `Bearer ${h.alice}` }
    const created = await fetch(`${base}/v1/tus`, {
      method: 'POST',
      headers: { ...auth, 'upload-length': '5000' },
    })
    expect(created.status).toBe(201)
    expect(created.headers.get('upload-expires')).toBeTruthy()
    const url = base + created.headers.get('location')
    const patched = await fetch(url, {
      method: 'PATCH',
      headers: { ...auth, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: (await makeJpeg(200, 200)).subarray(0, 1000),
    })
    expect(patched.status).toBe(204)
    expect((await readdir(h.config.uploads.tusDirectory)).length).toBeGreaterThan(0)
    await eventually(
      async () => {
        expect((await fetch(url, { method: 'HEAD', headers: auth })).status).toBe(404)
        expect(await readdir(h.config.uploads.tusDirectory)).toEqual([])
      },
      { timeoutMs: 10_000 },
    )
  })
})
