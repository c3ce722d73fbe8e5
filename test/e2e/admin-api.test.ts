import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUCKET_COUNT } from '../../src/domain/bucket.js'
import { processImagePayload } from '../../src/domain/jobs.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import { METADATA_DIALECTS } from '../fixtures/metadata-env.js'
import { createTestDatabases, type TestDatabases } from '../fixtures/postgres.js'

/**
 * The operator routes under /v1/admin through the whole app (SQLite queue and shards), and the
 * audit rows their changes leave. Workers are off so that jobs stay where the test puts them.
 * The control database and shards are SQLite, and PostgreSQL too when PIXELFLOW_TEST_PG_URL is set.
 */
describe.each(METADATA_DIALECTS)('the admin API, control database and shards on %s', (dialect) => {
  let h: Harness
  let databases: TestDatabases | null = null
  let admin: string
  let adminKeyId: string
  const audits = async () => (await call('GET', '/v1/admin/audit?limit=100')).json().items

  function call(method: string, url: string, payload?: unknown, key = admin, requestId?: string) {
    return h.pf.app.inject({
      method: method as 'GET',
      url,
      ...(payload === undefined ? {} : { payload: payload as object }),
      headers: {
        authorization: `Bearer ${key}`,
        ...(requestId ? { 'x-request-id': requestId } : {}),
      },
    })
  }

  beforeAll(async () => {
    const env: Record<string, string> = {
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: '1',
    }
    if (dialect === 'postgres') {
      databases = await createTestDatabases('pf_admin_api', 3)
      const [control, ...shards] = databases.urls
      env.PIXELFLOW_CONTROL_DB = control as string
      env.PIXELFLOW_SHARDS = shards.join(',')
    }
    h = await startHarness(env)
    const created = await h.pf.deps.apiKeys.create('ops', ['admin'])
    admin = created.key
    adminKeyId = created.id
  })
  afterAll(async () => {
    await h?.close()
    await databases?.drop()
  })

  it('refuses a credential without the admin scope on every route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/admin/queue'],
      ['GET', '/v1/admin/dead-letters'],
      ['POST', '/v1/admin/dead-letters/redrive', {}],
      ['GET', '/v1/admin/shards'],
      ['GET', '/v1/admin/keys'],
      ['POST', '/v1/admin/keys', { ownerId: 'mallory', scopes: ['admin'] }],
      ['POST', '/v1/admin/keys/abcdefabcdef/rotate', {}],
      ['DELETE', '/v1/admin/keys/abcdefabcdef'],
      ['GET', '/v1/admin/audit'],
      ['GET', '/v1/admin/metrics'],
    ]
    for (const [method, url, body] of routes) {
      const res = await call(method, url, body, h.alice)
      expect(res.statusCode, `${method} ${url}`).toBe(403)
      expect(res.json().code).toBe('INSUFFICIENT_SCOPE')
    }
    expect(await audits()).toEqual([])
    expect((await h.pf.deps.apiKeys.list('mallory')).length).toBe(0)
  })

  it('shows the queue, lists a dead job and redrives it back into the queue', async () => {
    const { queue } = h.pf.deps
    await queue.enqueue([
      { id: 'job-dead', payload: processImagePayload('img-dead', Date.now()) },
      { id: 'job-live', payload: processImagePayload('img-live', Date.now()) },
    ])
    const [leased] = await queue.receive(1)
    expect(await queue.fail(leased!.id, leased!.token, 'decoder exploded')).toBe('dead')
    const deadId = leased!.id

    const queued = await call('GET', '/v1/admin/queue')
    expect(queued.headers['cache-control']).toBe('no-store')
    const stats = queued.json()
    expect(stats).toMatchObject({ driver: 'sqlite', visible: 1, inFlight: 0, dead: 1 })

    const dead = await call('GET', '/v1/admin/dead-letters?limit=10')
    expect(dead.statusCode).toBe(200)
    expect(dead.json().items).toEqual([
      {
        id: deadId,
        imageId: deadId === 'job-dead' ? 'img-dead' : 'img-live',
        lastError: expect.stringContaining('decoder exploded'),
        errors: [expect.stringContaining('decoder exploded')],
        attempts: 1,
        queuedAt: expect.any(String),
      },
    ])

    const redrive = await call('POST', '/v1/admin/dead-letters/redrive', {
      ids: [deadId, 'no-such-job'],
    })
    expect(redrive.statusCode).toBe(200)
    expect(redrive.json()).toEqual({ redriven: 1, missing: ['no-such-job'] })
    expect((await call('GET', '/v1/admin/queue')).json()).toMatchObject({ visible: 2, dead: 0 })
    const back = await queue.receive(10)
    expect(back.map((job) => job.id).sort()).toEqual(['job-dead', 'job-live'])
    for (const job of back) await queue.ack(job.id, job.token)

    // Nothing dead left: a redrive of "all" changes nothing and leaves no audit row.
    const none = await call('POST', '/v1/admin/dead-letters/redrive', {})
    expect(none.json()).toEqual({ redriven: 0, missing: [] })
    // Without a body at all, the same.
    expect((await call('POST', '/v1/admin/dead-letters/redrive')).json()).toEqual({
      redriven: 0,
      missing: [],
    })
    const rows = (await audits()).filter((r: any) => r.action === 'dead-letters.redrive')
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ target: 'queue', detail: { ids: [deadId] } })
  })

  it('shows every shard with its buckets and rows', async () => {
    // Workers are off: the upload's row stays queued, but it is a row of its shard.
    expect((await h.upload(await makeJpeg(64, 48), 'image/jpeg')).statusCode).toBe(202)
    const res = await call('GET', '/v1/admin/shards')
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.shards).toHaveLength(h.pf.deps.metadata.shards().length)
    expect(body.shards.length).toBeGreaterThanOrEqual(2)
    expect(body.shards.every((s: any) => s.reachable && s.error === null)).toBe(true)
    expect(body.shards.reduce((n: number, s: any) => n + s.buckets, 0)).toBe(BUCKET_COUNT)
    expect(body.shards.reduce((n: number, s: any) => n + s.images, 0)).toBe(1)
    expect(body).toMatchObject({ epoch: expect.any(Number), strategy: { kind: 'hash' }, moves: [] })
  })

  it('creates a key that works, lists it without its secret, revokes it', async () => {
    const res = await call(
      'POST',
      '/v1/admin/keys',
      { ownerId: 'carol', scopes: ['images:read'] },
      admin,
      'req-create-carol',
    )
    expect(res.statusCode).toBe(201)
    const { id, key, ownerId, scopes } = res.json()
    expect({ ownerId, scopes }).toEqual({ ownerId: 'carol', scopes: ['images:read'] })
    const carolList = () => call('GET', '/v1/images', undefined, key)
    expect((await carolList()).statusCode).toBe(200)
    // images:read only: an upload is refused.
    expect((await h.upload(Buffer.from('x'), 'image/jpeg', {}, key)).statusCode).toBe(403)

    const listed = (await call('GET', '/v1/admin/keys?owner=carol')).json().items
    expect(listed).toEqual([
      {
        id,
        ownerId: 'carol',
        scopes: ['images:read'],
        createdAt: expect.any(String),
        revokedAt: null,
        active: true,
      },
    ])
    // The secret is the key's last 43 characters; base64url may hold '_', so no split.
    const secret = key.slice(-43)
    expect(JSON.stringify(listed)).not.toContain(secret)

    const created = (await audits()).find((r: any) => r.action === 'api-key.create')
    expect(created).toMatchObject({
      target: id,
      actor: { ownerId: 'ops', keyId: adminKeyId, via: 'api-key' },
      detail: { ownerId: 'carol', scopes: ['images:read'] },
      requestId: 'req-create-carol',
    })
    expect(JSON.stringify(await audits())).not.toContain(secret)

    expect((await call('DELETE', `/v1/admin/keys/${id}`)).statusCode).toBe(204)
    expect((await carolList()).statusCode).toBe(401)
    const again = await call('DELETE', `/v1/admin/keys/${id}`)
    expect(again.statusCode).toBe(404)
    expect(again.headers['content-type']).toContain('application/problem+json')
    expect(again.json().code).toBe('API_KEY_NOT_FOUND')
    const revokes = (await audits()).filter((r: any) => r.action === 'api-key.revoke')
    expect(revokes).toHaveLength(1) // the refused second revoke left no row
    expect((await call('GET', '/v1/admin/keys?owner=carol')).json().items[0].active).toBe(false)
  })

  it('rotates a key: the old one works through its grace period, and not without one', async () => {
    const old = (await call('POST', '/v1/admin/keys', { ownerId: 'dave' })).json()
    const before = Date.now()
    const rotated = await call('POST', `/v1/admin/keys/${old.id}/rotate`, { graceSeconds: 60 })
    expect(rotated.statusCode).toBe(200)
    const fresh = rotated.json()
    expect(fresh.replaces).toBe(old.id)
    const expires = Date.parse(fresh.oldKeyExpiresAt)
    expect(expires).toBeGreaterThanOrEqual(before + 60_000)
    expect(expires).toBeLessThanOrEqual(Date.now() + 60_000)
    expect((await call('GET', '/v1/images', undefined, old.key)).statusCode).toBe(200)
    expect((await call('GET', '/v1/images', undefined, fresh.key)).statusCode).toBe(200)

    // A rotation without grace stops the old key at once.
    const next = (
      await call('POST', `/v1/admin/keys/${fresh.id}/rotate`, { graceSeconds: 0 })
    ).json()
    expect((await call('GET', '/v1/images', undefined, fresh.key)).statusCode).toBe(401)
    expect((await call('GET', '/v1/images', undefined, next.key)).statusCode).toBe(200)

    const unknown = await call('POST', '/v1/admin/keys/abcdefabcdef/rotate', {})
    expect(unknown.json().code).toBe('API_KEY_NOT_FOUND')
    const tooLong = await call('POST', `/v1/admin/keys/${next.id}/rotate`, {
      graceSeconds: 31 * 86_400,
    })
    expect(tooLong.statusCode).toBe(400)
    const rows = (await audits()).filter((r: any) => r.action === 'api-key.rotate')
    expect(rows.map((r: any) => r.detail)).toEqual([
      { newKeyId: next.id, graceSeconds: 0 },
      { newKeyId: fresh.id, graceSeconds: 60 },
    ])
  })

  it('lets an admin revoke the key it is using: the answer is its last', async () => {
    const self = (
      await call('POST', '/v1/admin/keys', { ownerId: 'ops', scopes: ['admin'] })
    ).json()
    expect(
      (await call('DELETE', `/v1/admin/keys/${self.id}`, undefined, self.key)).statusCode,
    ).toBe(204)
    expect((await call('GET', '/v1/admin/queue', undefined, self.key)).statusCode).toBe(401)
    const row = (await audits()).find(
      (r: any) => r.target === self.id && r.action === 'api-key.revoke',
    )
    expect(row).toMatchObject({ actor: { keyId: self.id }, detail: { self: true } })
  })

  it('audits an owner erasure', async () => {
    const res = await call('DELETE', '/v1/admin/owners/bob')
    expect(res.statusCode).toBe(200)
    expect((await audits())[0]).toMatchObject({
      action: 'owner.erase',
      target: 'bob',
      detail: { resumed: false, images: 0, apiKeys: 1 },
    })
  })

  it('lists the audit newest first, page by page with the cursor', async () => {
    const all = await audits()
    expect(all.map((r: any) => r.action)).toEqual([
      'owner.erase',
      'api-key.revoke',
      'api-key.create',
      'api-key.rotate',
      'api-key.rotate',
      'api-key.create',
      'api-key.revoke',
      'api-key.create',
      'dead-letters.redrive',
    ])
    const ats = all.map((r: any) => Date.parse(r.at))
    expect([...ats].sort((a, b) => b - a)).toEqual(ats)
    const paged: string[] = []
    let url = '/v1/admin/audit?limit=2'
    for (let i = 0; i < 10; i++) {
      const page = (await call('GET', url)).json()
      expect(page.items.length).toBeLessThanOrEqual(2)
      paged.push(...page.items.map((r: any) => r.id))
      if (!page.nextCursor) break
      url = `/v1/admin/audit?limit=2&cursor=${page.nextCursor}`
    }
    expect(paged).toEqual(all.map((r: any) => r.id))
    expect((await call('GET', '/v1/admin/audit?cursor=abc')).statusCode).toBe(400)
  })

  it('serves the metrics history of this process', async () => {
    const res = await call('GET', '/v1/admin/metrics')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ intervalMs: 10_000, points: expect.any(Array) })
  })
})
