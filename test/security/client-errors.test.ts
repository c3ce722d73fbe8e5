import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { LEVEL, rawSocket, type Server, startServer } from './server.js'

/**
 * Finding 8: malformed multipart and client aborts are the client's doing: a 400 with a code (or
 * nothing, for a client that is gone), logged below error level, without a stack trace.
 */
describe('client errors are not server errors (finding 8)', () => {
  let s: Server
  let jpeg: Buffer
  beforeAll(async () => {
    s = await startServer({
      PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '1',
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    jpeg = await makeJpeg(256, 256)
  })
  afterAll(() => s.close())

  const errorLines = () => s.logs().filter((line) => line.level >= LEVEL.warn)

  async function post(contentType: string, body: Buffer) {
    const res = await fetch(`${s.url}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': contentType },
      body: new Uint8Array(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }

  it('a multipart body without its boundary → 400 MISSING_FILE_FIELD (no part at all), logged at info', async () => {
    const res = await post(
      'multipart/form-data; boundary=declared-boundary',
      Buffer.from('--some-other-boundary\r\nContent-Disposition: form-data; name="file"\r\n\r\nxx'),
    )
    // busboy reads a body whose boundary never appears as a form without parts: no "file".
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('MISSING_FILE_FIELD')
    expect(errorLines()).toEqual([])
    const refused = s.logs().find((line) => line.code === 'MISSING_FILE_FIELD')
    expect(refused?.level).toBe(LEVEL.info)
    expect(await s.storeEntries()).toEqual([])
  })

  for (const type of ['multipart/form-data', 'multipart/form-data; charset=utf-8']) {
    it(`Content-Type "${type}" (no usable boundary) → 400 MULTIPART_MALFORMED`, async () => {
      const res = await post(type, Buffer.from('hello'))
      expect(res.status).toBe(400)
      expect(res.body.code).toBe('MULTIPART_MALFORMED')
      expect(errorLines()).toEqual([])
      expect(s.logs().find((line) => line.code === 'MULTIPART_MALFORMED')?.level).toBe(LEVEL.info)
    })
  }

  it('a multipart part cut off before its closing boundary → 400 MULTIPART_MALFORMED', async () => {
    const boundary = 'cut-off'
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
      ),
      jpeg,
    ])
    const res = await post(`multipart/form-data; boundary=${boundary}`, body)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('MULTIPART_MALFORMED')
    expect(errorLines()).toEqual([])
    expect(await s.storeEntries()).toEqual([])
    expect(await s.rows()).toEqual({ images: 0, outbox: 0 })
  })

  for (const kind of ['raw', 'multipart'] as const) {
    it(`a client that aborts mid-body (${kind}) is logged at info, and leaves nothing`, async () => {
      const before = s.logs().length
      const c = await rawSocket(s.port)
      const boundary = 'abort-boundary'
      const preamble =
        kind === 'raw'
          ? Buffer.alloc(0)
          : Buffer.from(
              `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
            )
      const type = kind === 'raw' ? 'image/jpeg' : `multipart/form-data; boundary=${boundary}`
      c.socket.write(
        `POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\n` +
          `Content-Type: ${type}\r\nContent-Length: ${preamble.length + jpeg.length + 200}\r\n\r\n`,
      )
      c.socket.write(Buffer.concat([preamble, jpeg.subarray(0, 2000)]))
      await eventually(
        async () => (await s.storeEntries()).some((entry) => entry.includes('.tmp-')),
        { message: 'the upload is streaming' },
      )
      c.socket.destroy()
      const aborted = await eventually(
        () =>
          s
            .logs()
            .slice(before)
            .find((line) => line.msg === 'client aborted the request') ?? null,
        { message: 'the abort was logged' },
      )
      expect(aborted.level).toBe(LEVEL.info)
      expect(errorLines()).toEqual([])
      await eventually(async () => expect(await s.storeEntries()).toEqual([]))
      expect(await s.rows()).toEqual({ images: 0, outbox: 0 })
      // Its upload slot is free again.
      const next = await post('image/jpeg', jpeg)
      expect(next.status).toBe(202)
      await s.pf.app.inject({
        method: 'DELETE',
        url: `/v1/images/${next.body.id}`,
        headers: { authorization: `Bearer ${s.key}` },
      })
    })
  }
})
