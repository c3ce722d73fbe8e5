import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeJpeg } from '../fixtures/images.js'
import { type Server, startServer } from './server.js'

/** Operations: request rate, errors and duration per route pattern, never per raw URL. */
describe('HTTP metrics', () => {
  let s: Server
  const token = 'metrics-token-0123456789'
  beforeAll(async () => {
    s = await startServer({ PIXELFLOW_METRICS_TOKEN: token, PIXELFLOW_WORKER_ENABLED: 'false' })
  })
  afterAll(() => s.close())

  it('counts requests by method, route pattern and status, and times them', async () => {
    const auth = { authorization: `Bearer ${s.key}` }
    const up = await fetch(`${s.url}/v1/images`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await makeJpeg(32, 32)),
    })
    expect(up.status).toBe(202)
    const { id } = (await up.json()) as { id: string }
    expect((await fetch(`${s.url}/v1/images/${id}`, { headers: auth })).status).toBe(200)
    const missing = '01m8j61pb6298v8qvprnfs9ff879s'
    expect((await fetch(`${s.url}/v1/images/${missing}`, { headers: auth })).status).toBe(404)
    expect((await fetch(`${s.url}/nothing/here/${missing}`)).status).toBe(404)

    const text = await (
      await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    ).text()
    expect(text).toMatch(
      /pixelflow_http_requests_total\{method="POST",route="\/v1\/images",status="202"\} 1\n/,
    )
    expect(text).toMatch(
      /pixelflow_http_requests_total\{method="GET",route="\/v1\/images\/:id",status="200"\} 1\n/,
    )
    expect(text).toMatch(
      /pixelflow_http_requests_total\{method="GET",route="\/v1\/images\/:id",status="404"\} 1\n/,
    )
    expect(text).toMatch(
      /pixelflow_http_requests_total\{method="GET",route="unmatched",status="404"\} 1\n/,
    )
    expect(text).toMatch(
      /pixelflow_http_request_duration_seconds_count\{method="GET",route="\/v1\/images\/:id"\} 2\n/,
    )
    // Raw URLs would be one series per image: never a label.
    expect(text).not.toContain(id)
    expect(text).not.toContain(missing)
  })
})
