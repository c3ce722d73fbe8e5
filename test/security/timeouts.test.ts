import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { rawSocket, type Server, startServer } from './server.js'

/**
 * Finding 5: a client that trickles its request (one byte now and then) or stalls must lose its
 * connection, its upload slot and its temp file within the configured timeouts.
 */
describe('slow clients are dropped and cleaned up (finding 5)', () => {
  let s: Server
  let jpeg: Buffer
  beforeAll(async () => {
    s = await startServer({
      PIXELFLOW_HTTP_HEADERS_TIMEOUT_MS: '1000',
      PIXELFLOW_HTTP_REQUEST_TIMEOUT_MS: '3000',
      PIXELFLOW_HTTP_IDLE_TIMEOUT_MS: '1000',
      PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '1',
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    jpeg = await makeJpeg(256, 256)
  })
  afterAll(() => s.close())

  const head = (length: number) =>
    'POST /v1/images HTTP/1.1\r\nHost: x\r\n' +
    `Authorization: Bearer ${s.key}\r\nContent-Type: image/jpeg\r\nContent-Length: ${length}\r\n\r\n`

  /** Sends `bytes` one at a time every `everyMs` until the server closes the connection. */
  async function trickle(socket: import('node:net').Socket, bytes: Buffer, everyMs: number) {
    let sent = 0
    while (!socket.destroyed && sent < bytes.length) {
      socket.write(bytes.subarray(sent, sent + 1))
      sent++
      await sleep(everyMs)
    }
    return sent
  }

  async function expectCleanedUp() {
    await eventually(async () => expect(await s.storeEntries()).toEqual([]), {
      message: 'no temp file or folder left',
    })
    expect(await s.rows()).toEqual({ images: 0, outbox: 0 })
    // The upload slot (1 per owner here) is free again.
    const res = await fetch(`${s.url}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(jpeg),
    })
    expect(res.status).toBe(202)
    const { id } = (await res.json()) as { id: string }
    await s.pf.app.inject({
      method: 'DELETE',
      url: `/v1/images/${id}`,
      headers: { authorization: `Bearer ${s.key}` },
    })
  }

  it('a request head trickled a byte every 200 ms is cut at the headers timeout', async () => {
    const c = await rawSocket(s.port)
    const started = Date.now()
    const sent = await trickle(c.socket, Buffer.from(head(jpeg.length)), 200)
    await c.closed
    const elapsed = Date.now() - started
    expect(sent).toBeLessThan(head(jpeg.length).length)
    expect(elapsed).toBeLessThan(6_000)
  })

  it('a body trickled a byte every 200 ms is cut at the request timeout, its upload undone', async () => {
    const c = await rawSocket(s.port)
    c.socket.write(head(jpeg.length))
    c.socket.write(jpeg.subarray(0, 1000))
    // While it trickles, the upload holds a temp file: the state that must not outlive it.
    const tempSeen = eventually(
      async () => (await s.storeEntries()).some((entry) => entry.includes('.tmp-')),
      { timeoutMs: 2_000, message: 'the upload has a temp file' },
    )
    const started = Date.now()
    const sent = await trickle(c.socket, jpeg.subarray(1000), 200)
    await c.closed
    expect(await tempSeen).toBe(true)
    expect(sent).toBeLessThan(jpeg.length - 1000)
    expect(Date.now() - started).toBeLessThan(8_000)
    await expectCleanedUp()
  })

  it('a body that stalls is cut at the idle timeout, its upload undone', async () => {
    const c = await rawSocket(s.port)
    c.socket.write(head(jpeg.length))
    c.socket.write(jpeg.subarray(0, 1000))
    const started = Date.now()
    await eventually(() => c.socket.destroyed || c.received() !== '' || null, {
      timeoutMs: 8_000,
      message: 'the server dropped the stalled upload',
    })
    await c.closed
    // Well before the 3 s request timeout: the idle timeout did it.
    expect(Date.now() - started).toBeLessThan(2_900)
    await expectCleanedUp()
  })
})
