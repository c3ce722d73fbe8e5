import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../fixtures/serve-process.js'
import { type Server, startBinary, startServer } from './server.js'

/**
 * Finding 10: /docs is limited per IP; /metrics is not public on the API port unless asked for;
 * /healthz and /readyz stay unlimited for probes but cheap.
 */
describe('docs, metrics and probes (finding 10)', () => {
  let s: Server | undefined
  afterEach(async () => {
    await s?.close()
    s = undefined
  })

  const status = async (url: string, headers: Record<string, string> = {}) =>
    (await fetch(url, { headers })).status

  it('/docs spends from the per-IP anonymous limit', async () => {
    s = await startServer({
      PIXELFLOW_RATE_LIMIT_ANONYMOUS: '3',
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push(await status(`${s.url}/docs/`))
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    // The probes are never limited.
    for (let i = 0; i < 10; i++) {
      expect(await status(`${s.url}/healthz`)).toBe(200)
      expect(await status(`${s.url}/readyz`)).toBe(200)
    }
  })

  it('by default /metrics is not served on the API port', async () => {
    s = await startServer({ PIXELFLOW_WORKER_ENABLED: 'false' })
    const res = await fetch(`${s.url}/metrics`)
    expect(res.status).toBe(404)
    expect(((await res.json()) as any).code).toBe('ROUTE_NOT_FOUND')
  })

  it('with PIXELFLOW_METRICS_TOKEN, /metrics needs that bearer token', async () => {
    const token = 'metrics-token-0123456789'
    s = await startServer({ PIXELFLOW_METRICS_TOKEN: token, PIXELFLOW_WORKER_ENABLED: 'false' })
    expect(await status(`${s.url}/metrics`)).toBe(401)
    expect(
      await status(`${s.url}/metrics`, { authorization: 'Bearer wrong-token-0123456789' }),
    ).toBe(401)
    expect(await status(`${s.url}/metrics`, { authorization: `Bearer ${s.key}` })).toBe(401)
    const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/pixelflow_uploads_total/)
  })

  it('PIXELFLOW_METRICS_PUBLIC=true serves it openly, as before', async () => {
    s = await startServer({ PIXELFLOW_METRICS_PUBLIC: 'true', PIXELFLOW_WORKER_ENABLED: 'false' })
    expect(await status(`${s.url}/metrics`)).toBe(200)
  })

  it('the real binary with PIXELFLOW_METRICS_PORT serves metrics there and only there', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-metrics-'))
    const [port, metricsPort] = [await freePort(), await freePort()]
    const bin = await startBinary(
      { PIXELFLOW_DATA_DIR: dir, PIXELFLOW_METRICS_PORT: String(metricsPort) },
      port,
    )
    try {
      expect(await status(`${bin.url}/metrics`)).toBe(404)
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(res.status).toBe(200)
      expect(await res.text()).toMatch(/pixelflow_http_requests_total/)
      // Nothing else lives on the metrics port.
      expect(await status(`http://127.0.0.1:${metricsPort}/v1/images`)).toBe(404)
    } finally {
      await bin.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('50 concurrent /readyz run each dependency check at most once per second', async () => {
    s = await startServer({ PIXELFLOW_WORKER_ENABLED: 'false' })
    const deps = s.pf.deps as unknown as Record<string, { check: () => Promise<void> }>
    const calls: Record<string, number> = {}
    for (const name of ['store', 'queue', 'metadata']) {
      const port = deps[name]!
      const check = port.check.bind(port)
      calls[name] = 0
      port.check = async () => {
        calls[name]!++
        await sleep(50) // a dependency that takes a while to answer
        return check()
      }
    }
    const burst = async () => {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, () => status(`${s!.url}/readyz`)),
      )
      expect(statuses.every((code) => code === 200)).toBe(true)
    }
    await burst()
    expect(calls).toEqual({ store: 1, queue: 1, metadata: 1 })
    await burst() // within the second: answered from the cached result
    expect(calls).toEqual({ store: 1, queue: 1, metadata: 1 })
    await sleep(1_100)
    await burst()
    expect(calls).toEqual({ store: 2, queue: 2, metadata: 2 })
  })
})
