import { afterEach, describe, expect, it } from 'vitest'
import { PixelflowError } from '../../packages/client/src/index.js'
import { makeJpeg } from '../fixtures/images.js'
import { startTcpProxy, type TcpProxy } from '../fixtures/tcp-proxy.js'
import { type ClientServer, progressLog, rejection, startClientServer } from './server.js'

describe('client retries against a real server', () => {
  let s: ClientServer | undefined
  let proxy: TcpProxy | undefined
  afterEach(async () => {
    await proxy?.close()
    await s?.close()
    proxy = s = undefined
  })

  it('repeats an upload whose answer was lost with the same Idempotency-Key: one image', async () => {
    const accepted: { key: string; id: string }[] = []
    let committed!: () => void
    const isCommitted = new Promise<void>((resolve) => (committed = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    s = await startClientServer({}, (h) => {
      // The first 202 is held back after the image is committed, while the test cuts the line.
      h.pf.app.addHook('onSend', async (request, reply, payload) => {
        if (request.method !== 'POST' || reply.statusCode !== 202) return payload
        accepted.push({
          key: String(request.headers['idempotency-key']),
          id: JSON.parse(String(payload)).id,
        })
        if (accepted.length === 1) {
          committed()
          await released
        }
        return payload
      })
    })
    proxy = await startTcpProxy('127.0.0.1', s.port)
    const client = s.client({ baseUrl: `http://127.0.0.1:${proxy.port}` })
    const bytes = await makeJpeg(700, 500)
    const progress = progressLog()
    const upload = client.upload(bytes, { onProgress: progress.onProgress })
    await isCommitted
    await proxy.down() // the connection dies with the 202 unsent
    await proxy.up()
    release()
    const image = await upload

    expect(accepted).toHaveLength(2)
    expect(accepted[1]!.key).toBe(accepted[0]!.key)
    expect(accepted[0]!.key).toMatch(/^[0-9a-f-]{36}$/)
    expect(image.id).toBe(accepted[0]!.id)
    expect(progress.last).toEqual({ loaded: bytes.length, total: bytes.length })
    const page = await client.images.list()
    expect(page.items.map((i) => i.id)).toEqual([image.id])
  })

  it('repeats a GET after network errors with backoff, then reports NETWORK_ERROR', async () => {
    s = await startClientServer()
    proxy = await startTcpProxy('127.0.0.1', s.port)
    await proxy.down()
    const client = s.client({ baseUrl: `http://127.0.0.1:${proxy.port}`, retries: 2 })
    const started = Date.now()
    const error = await rejection(client.images.list())
    // A GET is retried (twice, with backoff) before the error surfaces.
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(200)
  })

  it('waits out a 429 as long as Retry-After says, then succeeds', async () => {
    const statuses: number[] = []
    s = await startClientServer(
      { PIXELFLOW_RATE_LIMIT_UPLOADS: '1', PIXELFLOW_RATE_LIMIT_WINDOW_MS: '2000' },
      (h) => {
        h.pf.app.addHook('onResponse', async (request, reply) => {
          if (request.method === 'POST') statuses.push(reply.statusCode)
        })
      },
    )
    const client = s.client()
    await client.upload(await makeJpeg(300, 200))

    const impatient = s.client({ retries: 0 })
    const refused = await rejection(impatient.upload(await makeJpeg(301, 200)))
    expect(refused).toBeInstanceOf(PixelflowError)
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', status: 429 })
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(2)

    const started = Date.now()
    const image = await client.upload(await makeJpeg(302, 200))
    expect(image.status).toBe('queued')
    // It waited for the window (not a short backoff) and needed exactly one more attempt.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(statuses.slice(-2)).toEqual([429, 202])
  })

  it('gives up at once when Retry-After is longer than it may wait, and can be aborted', async () => {
    s = await startClientServer({
      PIXELFLOW_RATE_LIMIT_UPLOADS: '1',
      PIXELFLOW_RATE_LIMIT_WINDOW_MS: '600000',
    })
    await s.client().upload(await makeJpeg(300, 200))
    const started = Date.now()
    await expect(
      s.client({ maxRetryDelayMs: 5_000 }).upload(await makeJpeg(303, 200)),
    ).rejects.toMatchObject({ code: 'RATE_LIMITED' })
    expect(Date.now() - started).toBeLessThan(2_000)

    const controller = new AbortController()
    const patient = s.client({ maxRetryDelayMs: 3_600_000 })
    const waiting = patient.upload(await makeJpeg(304, 200), { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('changed my mind')), 300)
    await expect(waiting).rejects.toThrow('changed my mind')
  })
})
