import { afterEach, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

describe('rate limits in one process', () => {
  let h: Harness | undefined
  afterEach(async () => h?.close())

  const get = (url: string, key?: string) =>
    h!.pf.app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} })

  it('lets N reads per window through per owner, then 429 with Retry-After and RateLimit headers', async () => {
    h = await startHarness({
      PIXELFLOW_RATE_LIMIT_READS: '5',
      PIXELFLOW_RATE_LIMIT_WINDOW_MS: '60000',
    })
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) {
      const res = await get('/v1/images', h.alice)
      statuses.push(res.statusCode)
      expect(res.headers['ratelimit-policy']).toBe('"reads";q=5;w=60')
      if (res.statusCode === 200)
        expect(res.headers.ratelimit).toMatch(new RegExp(`^"reads";r=${4 - i};t=\\d+$`))
      else {
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1)
        expect(res.json().code).toBe('RATE_LIMITED')
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429])
    // Another owner has a budget of their own.
    expect((await get('/v1/images', h.bob)).statusCode).toBe(200)
  })

  it('limits uploads separately from reads, and counts uploads in flight', async () => {
    h = await startHarness({
      PIXELFLOW_RATE_LIMIT_UPLOADS: '2',
      PIXELFLOW_RATE_LIMIT_READS: '100',
      PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '1',
    })
    const body = await makeJpeg(64, 64)
    expect((await h.upload(body, 'image/jpeg')).statusCode).toBe(202)
    expect((await h.upload(body, 'image/jpeg')).statusCode).toBe(202)
    const third = await h.upload(body, 'image/jpeg')
    expect(third.statusCode).toBe(429)
    expect(third.headers['ratelimit-policy']).toBe('"uploads";q=2;w=60')
    expect((await get('/v1/images', h.alice)).statusCode).toBe(200)
  })

  it('refuses a second concurrent upload of one owner while the first is in flight', async () => {
    h = await startHarness({
      PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '1',
      PIXELFLOW_RATE_LIMIT_UPLOADS: '100',
    })
    await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.pf.app.server.address() as { port: number }
    const url = `http://127.0.0.1:${port}/v1/images`
    const headers = { authorization: `Bearer ${h.alice}`, 'content-type': 'image/jpeg' }
    // A body that trickles in keeps the first upload in flight.
    const body = await makeJpeg(64, 64)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow = new ReadableStream({
      async start(controller) {
        controller.enqueue(new Uint8Array(body.subarray(0, 100)))
        await gate
        controller.enqueue(new Uint8Array(body.subarray(100)))
        controller.close()
      },
    })
    const first = fetch(url, { method: 'POST', headers, body: slow, duplex: 'half' } as RequestInit)
    await new Promise((r) => setTimeout(r, 200))
    const second = await fetch(url, { method: 'POST', headers, body: new Uint8Array(body) })
    expect(second.status).toBe(429)
    release()
    expect((await first).status).toBe(202)
    const third = await fetch(url, { method: 'POST', headers, body: new Uint8Array(body) })
    expect(third.status).toBe(202)
  })

  it('limits anonymous delivery and failed authentication per IP', async () => {
    h = await startHarness({ PIXELFLOW_RATE_LIMIT_ANONYMOUS: '3' })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++)
      statuses.push((await get('/v1/images', `pf_wrongwrongwr_${'x'.repeat(43)}`)).statusCode)
    expect(statuses).toEqual([401, 401, 401, 429, 429])
    const delivery = await get('/i/01m8j61pb6298v8qvprnfs9ff879s/thumb.webp')
    expect(delivery.statusCode).toBe(429)
    // A valid key is not held back by the IP's failures.
    expect((await get('/v1/images', h.alice)).statusCode).toBe(200)
  })
})
