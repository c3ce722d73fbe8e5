import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type Server, startServer } from './server.js'

/** Finding 1: multipart bodies are bounded like raw ones: fields, parts, field size, total. */
describe('multipart limits (finding 1)', () => {
  let s: Server
  let jpeg: Buffer
  beforeAll(async () => {
    s = await startServer({
      PIXELFLOW_MAX_UPLOAD_BYTES: String(256 * 1024),
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    jpeg = await makeJpeg(64, 64)
  })
  afterAll(() => s.close())

  interface Part {
    name: string
    data: Buffer | string
    filename?: string
    type?: string
  }
  const BOUNDARY = 'pixelflow-security-boundary'
  function form(parts: Part[]): Buffer {
    const chunks: Buffer[] = []
    for (const part of parts) {
      const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`
      const head = `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${part.type ? `Content-Type: ${part.type}\r\n` : ''}\r\n`
      chunks.push(Buffer.from(head), Buffer.from(part.data), Buffer.from('\r\n'))
    }
    chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`))
    return Buffer.concat(chunks)
  }
  const file = (): Part => ({ name: 'file', filename: 'a.jpg', type: 'image/jpeg', data: jpeg })
  const field = (i: number, size = 10): Part => ({ name: `f${i}`, data: 'x'.repeat(size) })

  async function post(body: Buffer | ReadableStream, headers: Record<string, string> = {}) {
    const res = await fetch(`${s.url}/v1/images`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.key}`,
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        ...headers,
      },
      body: body instanceof Buffer ? new Uint8Array(body) : body,
      duplex: 'half',
    } as RequestInit)
    return { status: res.status, body: (await res.json()) as any }
  }

  async function expectNothingLeft() {
    expect(await s.rows()).toEqual({ images: 0, outbox: 0 })
    expect(await s.storeEntries()).toEqual([])
  }

  it('a form with a file and a few small fields is still accepted', async () => {
    const res = await post(form([field(1), file(), field(2)]))
    expect(res.status, JSON.stringify(res.body)).toBe(202)
    await s.pf.app.inject({
      method: 'DELETE',
      url: `/v1/images/${res.body.id}`,
      headers: { authorization: `Bearer ${s.key}` },
    })
    await expectNothingLeft()
  })

  /** Chunked, so no Content-Length tells the server the size up front. */
  const chunked = (body: Buffer) =>
    new ReadableStream({
      start(controller) {
        for (let at = 0; at < body.length; at += 64 * 1024)
          controller.enqueue(new Uint8Array(body.subarray(at, at + 64 * 1024)))
        controller.close()
      },
    }) as ReadableStream

  it('refuses 200 fields of 10 KB before the file with 413 MULTIPART_LIMIT_EXCEEDED', async () => {
    const parts = Array.from({ length: 200 }, (_, i) => field(i, 10_000))
    const res = await post(chunked(form([...parts, file()])))
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('MULTIPART_LIMIT_EXCEEDED')
    await expectNothingLeft()
  })

  it('refuses a field value over 1 KiB', async () => {
    const res = await post(form([field(1, 2048), file()]))
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('MULTIPART_LIMIT_EXCEEDED')
    await expectNothingLeft()
  })

  it('refuses fields after the file: the image is not kept', async () => {
    const parts = Array.from({ length: 50 }, (_, i) => field(i, 100))
    const res = await post(form([file(), ...parts]))
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('MULTIPART_LIMIT_EXCEEDED')
    await expectNothingLeft()
  })

  it('refuses a second file', async () => {
    const res = await post(form([file(), { ...file(), name: 'file2' }]))
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('MULTIPART_LIMIT_EXCEEDED')
    await expectNothingLeft()
  })

  it('refuses a body whose Content-Length passes the limit before reading it', async () => {
    // 1 MiB of preamble: a body busboy would read and throw away, byte by byte.
    const body = Buffer.concat([
      Buffer.alloc(1024 * 1024, 'p'),
      Buffer.from('\r\n'),
      form([file()]),
    ])
    const res = await post(body)
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('UPLOAD_TOO_LARGE')
    await expectNothingLeft()
  })

  it('refuses a chunked body (no Content-Length) whose file passes the limit', async () => {
    const big = await makeJpeg(1600, 1200)
    expect(big.length).toBeGreaterThan(256 * 1024)
    const res = await post(chunked(form([{ ...file(), data: big }])))
    expect(res.status).toBe(413)
    expect(res.body.code).toBe('UPLOAD_TOO_LARGE')
    await expectNothingLeft()
  })
})
