import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { getVia, type Nginx, startNginx } from './nginx.js'
import { type Server, startServer } from './server.js'

/**
 * Finding 2: behind a proxy the client IP must come from the entry the proxy appended, never from
 * the leftmost X-Forwarded-For entry, which the client writes itself.
 */
describe('client IP behind a real nginx (finding 2)', () => {
  let s: Server | undefined
  let nginx: Nginx | undefined
  afterEach(async () => {
    await nginx?.stop()
    await s?.close()
    nginx = s = undefined
  })

  // The client connects to nginx from 127.0.0.2; nginx connects to the app from 127.0.0.1.
  const CLIENT = '127.0.0.2'
  let n = 0
  const spoofed = () => `203.0.113.${++n % 250}`

  for (const trust of ['1', '127.0.0.1', '127.0.0.1/32', 'true']) {
    it(`PIXELFLOW_TRUST_PROXY=${trust}: rotating a spoofed leftmost entry does not escape the per-IP limit`, async () => {
      s = await startServer({
        PIXELFLOW_TRUST_PROXY: trust,
        PIXELFLOW_RATE_LIMIT_ANONYMOUS: '3',
        PIXELFLOW_WORKER_ENABLED: 'false',
      })
      nginx = await startNginx(s.port)
      const statuses: number[] = []
      for (let i = 0; i < 6; i++)
        statuses.push(
          (await getVia(nginx.port, '/openapi.json', { from: CLIENT, forwardedFor: spoofed() }))
            .status,
        )
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429])
      // Failed authentication spends from the same per-IP budget: guessing keys is limited too.
      const guess = await getVia(nginx.port, '/v1/images', {
        from: CLIENT,
        forwardedFor: spoofed(),
        headers: { authorization: 'Bearer pf_guess' },
      })
      expect(guess.status).toBe(429)
      // The IP the app saw is the client's real one, the one nginx appended.
      const seen = s
        .logs()
        .filter((line) => line.msg === 'incoming request')
        .map((line) => line.req as { url: string; remoteAddress: string })
        .filter((req) => req.url !== '/healthz') // startNginx's own probe
        .map((req) => req.remoteAddress)
      expect(new Set(seen)).toEqual(new Set([CLIENT]))
      // Another real client has a budget of its own.
      const other = await getVia(nginx.port, '/openapi.json', { from: '127.0.0.3' })
      expect(other.status).toBe(200)
    })
  }

  it('without a trusted proxy, X-Forwarded-For is ignored: every request is the proxy', async () => {
    s = await startServer({
      PIXELFLOW_RATE_LIMIT_ANONYMOUS: '2',
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    nginx = await startNginx(s.port)
    const statuses: number[] = []
    for (const from of [CLIENT, '127.0.0.3', '127.0.0.4'])
      statuses.push((await getVia(nginx.port, '/openapi.json', { from })).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})

describe('PIXELFLOW_TRUST_PROXY forms', () => {
  const trustOf = (value: string) =>
    loadConfig({ PIXELFLOW_DATA_DIR: '/tmp/x', PIXELFLOW_TRUST_PROXY: value }).http.trustProxy

  it('reads false, hop counts, addresses and CIDRs; true means one hop', () => {
    expect(trustOf('false')).toBe(false)
    expect(trustOf('0')).toBe(false)
    expect(trustOf('true')).toBe(1)
    expect(trustOf('2')).toBe(2)
    expect(trustOf('10.0.0.0/8, 192.168.1.7,2001:db8::/32')).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
      '2001:db8::/32',
    ])
  })

  it('refuses what is neither', () => {
    expect(() => trustOf('10.0.0.0/99')).toThrow(/trustProxy: '10.0.0.0\/99'/)
    expect(() => trustOf('proxy.example.com')).toThrow(/not an IP address/)
  })
})
