import dns from 'node:dns'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EMPTY_ALLOW_LIST,
  guardedRequest,
  type OutboundAllowList,
  parseAllowList,
  readBody,
} from '../../src/lib/ssrf.js'

/**
 * The guarded request against a real loopback server: what the guard allows it reaches, redirects
 * are checked hop by hop, and the timeout and byte ceiling hold even when the server misbehaves.
 */
const routes = new Map<string, (res: ServerResponse) => void>()
let server: Server
let base: string
let allow: OutboundAllowList

beforeAll(async () => {
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? '')
    if (route) route(res)
    else req.pipe(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  base = `http://127.0.0.1:${port}`
  allow = parseAllowList(`127.0.0.1:${port}`)
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

const options = { timeoutMs: 2000, maxResponseBytes: 1024 }

describe('guardedRequest', () => {
  it('refuses the loopback receiver without the allow-list, before connecting', async () => {
    await expect(
      guardedRequest(`${base}/`, { ...options, allow: EMPTY_ALLOW_LIST }),
    ).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
  })

  it('sends method, headers and body to an allowed target and returns the answer', async () => {
    const response = await guardedRequest(`${base}/echo`, {
      ...options,
      allow,
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(response.status).toBe(200)
    expect((await readBody(response.body)).toString()).toBe('hello')
  })

  it('returns a redirect as it is by default, and refuses a hop to a private address', async () => {
    routes.set('/to-metadata', (res) =>
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
    )
    const plain = await guardedRequest(`${base}/to-metadata`, { ...options, allow })
    expect(plain.status).toBe(302)
    await expect(
      guardedRequest(`${base}/to-metadata`, { ...options, allow, maxRedirects: 3 }),
    ).rejects.toMatchObject({ code: 'URL_FORBIDDEN' })
  })

  it('follows allowed hops up to the limit and no further', async () => {
    routes.set('/hop', (res) => res.writeHead(307, { location: '/hop2' }).end())
    routes.set('/hop2', (res) => res.writeHead(200).end('arrived'))
    const followed = await guardedRequest(`${base}/hop`, { ...options, allow, maxRedirects: 1 })
    expect((await readBody(followed.body)).toString()).toBe('arrived')
    expect(followed.url).toBe(`${base}/hop2`)
    routes.set('/loop', (res) => res.writeHead(302, { location: '/loop' }).end())
    await expect(
      guardedRequest(`${base}/loop`, { ...options, allow, maxRedirects: 3 }),
    ).rejects.toMatchObject({ code: 'URL_FETCH_FAILED', message: /redirects/ })
  })

  it('times out a server that never answers', async () => {
    routes.set('/hang', () => {})
    const started = Date.now()
    await expect(
      guardedRequest(`${base}/hang`, { ...options, allow, timeoutMs: 300 }),
    ).rejects.toMatchObject({ code: 'URL_FETCH_FAILED', message: /300 ms/ })
    expect(Date.now() - started).toBeLessThan(1500)
  })

  it('times out a body that trickles past the deadline', async () => {
    routes.set('/trickle', (res) => {
      res.writeHead(200)
      res.write('a')
    })
    const response = await guardedRequest(`${base}/trickle`, { ...options, allow, timeoutMs: 300 })
    await expect(readBody(response.body)).rejects.toMatchObject({ code: 'URL_FETCH_FAILED' })
  })

  it('cuts a body over the ceiling, declared or not, after at most the allowed bytes', async () => {
    routes.set('/big', (res) =>
      res.writeHead(200, { 'content-length': 4096 }).end('x'.repeat(4096)),
    )
    const big = await guardedRequest(`${base}/big`, { ...options, allow })
    let passed = 0
    await expect(
      (async () => {
        for await (const chunk of big.body) passed += (chunk as Buffer).length
      })(),
    ).rejects.toMatchObject({ code: 'URL_FETCH_FAILED', message: /larger than 1024/ })
    expect(passed).toBeLessThanOrEqual(1024)
    routes.set('/chunked', (res) => {
      res.writeHead(200)
      for (let i = 0; i < 8; i++) res.write('y'.repeat(512))
      res.end()
    })
    const response = await guardedRequest(`${base}/chunked`, { ...options, allow })
    await expect(readBody(response.body)).rejects.toMatchObject({
      code: 'URL_FETCH_FAILED',
      message: /larger than 1024/,
    })
  })

  it('connects to the address it checked, never asking DNS again (no rebinding)', async () => {
    // A rebinding name answers the check with an allowed address and the connect with another:
    // the socket's own lookup is made to answer 169.254.169.254. It must never be asked.
    const { port } = server.address() as AddressInfo
    const original = dns.lookup
    let asked = 0
    dns.lookup = ((_host: string, options: unknown, callback?: unknown) => {
      asked++
      const done = (typeof options === 'function' ? options : callback) as (
        ...args: unknown[]
      ) => void
      done(null, '169.254.169.254', 4)
    }) as typeof dns.lookup
    try {
      const response = await guardedRequest(`http://localhost:${port}/echo`, {
        ...options,
        allow: parseAllowList(`localhost:${port}`),
        method: 'POST',
        body: 'via the checked address',
      })
      expect((await readBody(response.body)).toString()).toBe('via the checked address')
    } finally {
      dns.lookup = original
    }
    expect(asked).toBe(0)
  })

  it('a refused connection fails to fetch', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const { port } = closed.address() as AddressInfo
    await new Promise((resolve) => closed.close(resolve))
    await expect(
      guardedRequest(`http://127.0.0.1:${port}/`, {
        ...options,
        allow: parseAllowList('127.0.0.1'),
      }),
    ).rejects.toMatchObject({ code: 'URL_FETCH_FAILED' })
  })
})
