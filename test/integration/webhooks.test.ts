import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { createTestDatabases, PG_URL, type TestDatabases } from '../fixtures/postgres.js'

/**
 * Webhooks end to end, in-process (role `serve`, so the relay's dispatcher runs here): real
 * uploads make real events, a real HTTP receiver on 127.0.0.1 (allowed through
 * PIXELFLOW_OUTBOUND_ALLOW, as a deployment would) fails, hangs and recovers. Runs with the
 * control database and shards on SQLite, and on PostgreSQL when PIXELFLOW_TEST_PG_URL is set.
 */

type Behaviour = 'fail' | 'hang' | 'ok'

interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: string
  answered: Behaviour
}

/** A receiver whose answers are scripted per path: a queue of behaviours, then a default. */
class Receiver {
  readonly requests: Received[] = []
  readonly scripts = new Map<string, Behaviour[]>()
  readonly defaults = new Map<string, Behaviour>()
  private server: Server | null = null
  port = 0

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const path = req.url ?? '/'
        const behaviour = this.scripts.get(path)?.shift() ?? this.defaults.get(path) ?? 'ok'
        this.requests.push({
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          answered: behaviour,
        })
        if (behaviour === 'ok') res.writeHead(204).end()
        else if (behaviour === 'fail') res.writeHead(500).end('receiver is broken')
        // 'hang': never answer; the sender's timeout must end it.
      })
    })
    const server = this.server
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`
  }

  to(path: string): Received[] {
    return this.requests.filter((request) => request.path === path)
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((resolve) => this.server?.close(resolve))
  }
}

const TIMEOUT_MS = 1000
const MAX_ATTEMPTS = 3
const DIALECTS = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)
if (!PG_URL)
  console.info(
    'webhooks.test.ts: PostgreSQL half skipped: set PIXELFLOW_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it',
  )

describe.each(DIALECTS)('webhooks, control database and shards on %s', (dialect) => {
  const receiver = new Receiver()
  let h: Harness
  let databases: TestDatabases | null = null
  const auth = (key: string) => ({ authorization: `Bearer ${key}` })

  beforeAll(async () => {
    await receiver.start()
    const env: Record<string, string> = {
      PIXELFLOW_OUTBOUND_ALLOW: `127.0.0.1:${receiver.port}`,
      PIXELFLOW_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      PIXELFLOW_WEBHOOK_LEASE_MS: '5000',
      PIXELFLOW_WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      PIXELFLOW_WEBHOOK_BACKOFF_BASE_MS: '50',
      PIXELFLOW_WEBHOOK_BACKOFF_MAX_MS: '200',
      PIXELFLOW_WEBHOOK_INTERVAL_MS: '20',
      PIXELFLOW_WEBHOOK_MAX_ENDPOINTS: '4',
      PIXELFLOW_PRESETS: 'thumb:64',
      PIXELFLOW_FORMATS: 'webp',
    }
    if (dialect === 'postgres') {
      databases = await createTestDatabases('webhooks', 3)
      const [control, ...shards] = databases.urls
      env.PIXELFLOW_CONTROL_DB = control as string
      env.PIXELFLOW_SHARDS = shards.join(',')
    }
    h = await startHarness(env)
  })

  afterAll(async () => {
    await h?.close()
    await receiver.stop()
    await databases?.drop()
  })

  async function createEndpoint(path: string, body: Record<string, unknown> = {}, key = h.alice) {
    const res = await h.pf.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: auth(key),
      payload: { url: receiver.url(path), ...body },
    })
    expect(res.statusCode, res.body).toBe(201)
    return res.json() as { id: string; secret: string; url: string; events: string[] }
  }

  async function deliveriesOf(id: string, key = h.alice) {
    const res = await h.pf.app.inject({
      method: 'GET',
      url: `/v1/webhooks/${id}/deliveries`,
      headers: auth(key),
    })
    expect(res.statusCode, res.body).toBe(200)
    return res.json().items as Array<Record<string, any>>
  }

  // Distinct bytes each time: the same bytes again would be deduplicated into no new image.
  let width = 64
  const uniqueJpeg = () => makeJpeg(width++, 48)

  async function uploadOne(key = h.alice): Promise<string> {
    const res = await h.upload(await uniqueJpeg(), 'image/jpeg', {}, key)
    expect(res.statusCode, res.body).toBe(202)
    const id = res.json().id as string
    return id
  }

  it('manages endpoints per owner: secret once, no secrets in reads, 404 for another owner', async () => {
    const created = await createEndpoint('/crud', {
      description: 'orders',
      events: ['image.failed'],
    })
    expect(created.secret).toMatch(/^whsec_/)
    expect(created.events).toEqual(['image.failed'])

    const list = await h.pf.app.inject({
      method: 'GET',
      url: '/v1/webhooks',
      headers: auth(h.alice),
    })
    expect(list.statusCode).toBe(200)
    expect(list.json().items.map((item: { id: string }) => item.id)).toContain(created.id)
    expect(list.body).not.toContain('whsec_')
    const one = await h.pf.app.inject({
      method: 'GET',
      url: `/v1/webhooks/${created.id}`,
      headers: auth(h.alice),
    })
    expect(one.json()).toMatchObject({ id: created.id, description: 'orders' })
    expect(one.body).not.toContain('whsec_')

    for (const [method, url] of [
      ['GET', `/v1/webhooks/${created.id}`],
      ['DELETE', `/v1/webhooks/${created.id}`],
      ['GET', `/v1/webhooks/${created.id}/deliveries`],
    ] as const) {
      const res = await h.pf.app.inject({ method, url, headers: auth(h.bob) })
      expect(res.statusCode, `${method} ${url}`).toBe(404)
      expect(res.json().code).toBe('WEBHOOK_NOT_FOUND')
    }
    const bobs = await h.pf.app.inject({ method: 'GET', url: '/v1/webhooks', headers: auth(h.bob) })
    expect(bobs.json().items).toEqual([])

    const readOnly = (await h.pf.deps.apiKeys.create('alice', ['images:read'])).key
    const refused = await h.pf.app.inject({
      method: 'DELETE',
      url: `/v1/webhooks/${created.id}`,
      headers: auth(readOnly),
    })
    expect(refused.statusCode).toBe(403)

    const deleted = await h.pf.app.inject({
      method: 'DELETE',
      url: `/v1/webhooks/${created.id}`,
      headers: auth(h.alice),
    })
    expect(deleted.statusCode).toBe(204)
    const gone = await h.pf.app.inject({
      method: 'GET',
      url: `/v1/webhooks/${created.id}`,
      headers: auth(h.alice),
    })
    expect(gone.statusCode).toBe(404)
  })

  it('refuses private, loopback and link-local URLs the allow-list does not name', async () => {
    for (const url of [
      `http://127.0.0.1:${receiver.port + 1}/hook`,
      `http://localhost:${receiver.port}/hook`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'file:///etc/passwd',
    ]) {
      const res = await h.pf.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: auth(h.bob),
        payload: { url },
      })
      expect(res.statusCode, url).toBe(422)
      expect(res.json().code, url).toBe('URL_FORBIDDEN')
    }
  })

  it('retries through a failure and a timeout, then delivers exactly once, signed', async () => {
    receiver.scripts.set('/flaky', ['fail', 'hang', 'ok'])
    const endpoint = await createEndpoint('/flaky', { events: ['image.ready'] })
    const imageId = await uploadOne()
    await h.waitSettled(imageId)

    const [delivery] = await eventually(
      async () => {
        const items = await deliveriesOf(endpoint.id)
        return items.length === 1 && items[0]?.state === 'delivered' ? items : false
      },
      { timeoutMs: 15_000, message: 'the delivery to reach delivered' },
    )
    expect(delivery).toMatchObject({ attempts: 3, lastStatus: 204, lastError: null })
    expect(delivery?.eventType).toBe('image.ready')
    // A little longer: nothing is sent again once delivered.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const requests = receiver.to('/flaky')
    expect(requests.map((request) => request.answered)).toEqual(['fail', 'hang', 'ok'])
    const ids = new Set(requests.map((request) => request.headers['webhook-id']))
    expect([...ids]).toEqual([delivery?.id])

    const ok = requests[2] as Received
    const payload = new Webhook(endpoint.secret).verify(ok.body, {
      'webhook-id': String(ok.headers['webhook-id']),
      'webhook-timestamp': String(ok.headers['webhook-timestamp']),
      'webhook-signature': String(ok.headers['webhook-signature']),
    })
    expect(payload).toMatchObject({
      type: 'image.ready',
      data: { imageId, status: 'ready' },
    })
    expect(new Date((payload as { timestamp: string }).timestamp).getTime()).not.toBeNaN()
    expect(ok.headers['content-type']).toBe('application/json')
    // Another secret does not verify it.
    const other = await createEndpoint('/other-secret', { events: ['image.deleted'] })
    expect(() =>
      new Webhook(other.secret).verify(ok.body, {
        'webhook-id': String(ok.headers['webhook-id']),
        'webhook-timestamp': String(ok.headers['webhook-timestamp']),
        'webhook-signature': String(ok.headers['webhook-signature']),
      }),
    ).toThrow()
  })

  it('a receiver that always fails makes the delivery dead; a redrive delivers it', async () => {
    receiver.defaults.set('/down', 'fail')
    const endpoint = await createEndpoint('/down', { events: ['image.ready'] }, h.bob)
    await uploadOne(h.bob)

    const [dead] = await eventually(
      async () => {
        const items = await deliveriesOf(endpoint.id, h.bob)
        return items[0]?.state === 'dead' ? items : false
      },
      { timeoutMs: 15_000, message: 'the delivery to be dead' },
    )
    expect(dead).toMatchObject({ attempts: MAX_ATTEMPTS, lastStatus: 500, nextAttemptAt: null })
    expect(dead?.lastError).toContain('HTTP 500')
    expect(receiver.to('/down')).toHaveLength(MAX_ATTEMPTS)

    // Alice cannot redrive Bob's delivery; a delivered or unknown one cannot be redriven.
    const foreign = await h.pf.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${dead?.id}/retry`,
      headers: auth(h.alice),
    })
    expect(foreign.statusCode).toBe(404)

    receiver.defaults.set('/down', 'ok')
    const retry = await h.pf.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${dead?.id}/retry`,
      headers: auth(h.bob),
    })
    expect(retry.statusCode, retry.body).toBe(202)
    expect(retry.json()).toMatchObject({ id: dead?.id, state: 'pending', attempts: 0 })
    await eventually(
      async () => (await deliveriesOf(endpoint.id, h.bob))[0]?.state === 'delivered',
      { timeoutMs: 10_000, message: 'the redriven delivery to be delivered' },
    )
    const again = await h.pf.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/${dead?.id}/retry`,
      headers: auth(h.bob),
    })
    expect(again.statusCode).toBe(409)
    expect(again.json().code).toBe('WEBHOOK_DELIVERY_NOT_DEAD')
    const unknown = await h.pf.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/deliveries/msg_nope/retry`,
      headers: auth(h.bob),
    })
    expect(unknown.json().code).toBe('WEBHOOK_DELIVERY_NOT_FOUND')
    const last = receiver.to('/down').at(-1)
    expect(last?.answered).toBe('ok')
    expect(last?.headers['webhook-id']).toBe(dead?.id)
  })

  it('a hanging receiver does not slow uploads or processing', async () => {
    const timeUpload = async () => {
      const body = await uniqueJpeg()
      const started = performance.now()
      const res = await h.upload(body, 'image/jpeg', {}, h.alice)
      const elapsed = performance.now() - started
      expect(res.statusCode).toBe(202)
      return { elapsed, id: res.json().id as string }
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
    const baseline: number[] = []
    for (let i = 0; i < 5; i++) baseline.push((await timeUpload()).elapsed)

    receiver.defaults.set('/hang', 'hang')
    // Several endpoints so that deliveries hang in several slots at once.
    await createEndpoint('/hang', { events: ['image.ready'] }, h.alice)
    await createEndpoint('/hang', { events: ['image.ready'] }, h.alice)
    const first = await uploadOne()
    await h.waitSettled(first)
    await eventually(() => receiver.to('/hang').length >= 2, {
      timeoutMs: 5_000,
      message: 'the receiver to be holding deliveries',
    })

    const during: number[] = []
    const ids: string[] = []
    const started = performance.now()
    for (let i = 0; i < 5; i++) {
      const { elapsed, id } = await timeUpload()
      during.push(elapsed)
      ids.push(id)
    }
    for (const id of ids) expect((await h.waitSettled(id)).status).toBe('ready')
    const allSettledMs = performance.now() - started
    // An upload that waited for the receiver would take the full timeout (1 s) at least. Medians,
    // so that one upload slowed by a busy machine does not decide; and a margin of 400 ms, well
    // under the timeout: with the earlier uploads rendering beside another test file on two cores,
    // a median of 183 ms against a baseline of 30 ms was seen in CI (a 150 ms margin failed it).
    expect(median(during)).toBeLessThan(TIMEOUT_MS)
    expect(median(during)).toBeLessThan(Math.max(3 * median(baseline), median(baseline) + 400))
    expect(allSettledMs).toBeLessThan(30_000)
    // And the receiver really was hanging while those uploads ran.
    expect(receiver.to('/hang').every((request) => request.answered === 'hang')).toBe(true)
  })
})
