import { afterAll, beforeAll, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'
import {
  createTestDatabases,
  describeWithPostgres,
  PG_URL,
  type TestDatabases,
} from '../fixtures/postgres.js'
import { startTcpProxy, type TcpProxy } from '../fixtures/tcp-proxy.js'

/**
 * Shard-down isolation on real PostgreSQL: shard 1 sits behind a proxy that the test takes down
 * (new connections refused, pooled ones cut). Only the owners on shard 1 get 503
 * SHARD_UNAVAILABLE; owners on shard 0 upload, list and get processed images as before.
 */
describeWithPostgres('shard-down.postgres.test.ts')('a PostgreSQL shard that is down', () => {
  let dbs: TestDatabases
  let proxy: TcpProxy
  let h: Harness
  const keys: Record<'up' | 'down', string> = { up: '', down: '' }

  beforeAll(async () => {
    dbs = await createTestDatabases('pf_down', 3)
    const target = new URL(PG_URL!)
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432))
    h = await startHarness({
      PIXELFLOW_CONTROL_DB: dbs.urls[0]!,
      PIXELFLOW_SHARDS: `${dbs.urls[1]},${proxy.url(dbs.urls[2]!)}`,
    })
    // An owner per shard: owner ids are tried in order until each shard has one.
    const directory = h.pf.deps.metadata.directory()
    for (let i = 0; !keys.up || !keys.down; i++) {
      const owner = `tenant-${i}`
      const side = directory.shardOf[h.pf.deps.metadata.bucketOfOwner(owner)] === 0 ? 'up' : 'down'
      if (!keys[side]) keys[side] = (await h.pf.deps.apiKeys.create(owner)).key
    }
  }, 60_000)
  afterAll(async () => {
    await h?.close()
    await proxy?.close()
    await dbs?.drop()
  })

  const list = (key: string) =>
    h.pf.app.inject({
      method: 'GET',
      url: '/v1/images',
      headers: { authorization: `Bearer ${key}` },
    })

  it('fails only its own owners with 503 SHARD_UNAVAILABLE, serves everyone else, and recovers', async () => {
    const jpeg = await makeJpeg(64, 48)
    const before = (await h.upload(jpeg, 'image/jpeg', {}, keys.down)).json()
    expect((await waitReady(before.id, keys.down)).status).toBe('ready')

    await proxy.down()
    const started = Date.now()
    const downList = await list(keys.down)
    expect(downList.statusCode).toBe(503)
    expect(downList.json().code).toBe('SHARD_UNAVAILABLE')
    const objectsBefore = (await h.pf.deps.store.list('images/')).length
    const downUpload = await h.upload(jpeg, 'image/jpeg', {}, keys.down)
    expect(downUpload.statusCode).toBe(503)
    expect(downUpload.json().code).toBe('SHARD_UNAVAILABLE')
    // The refused upload's original was removed again: nothing half-written.
    expect((await h.pf.deps.store.list('images/')).length).toBe(objectsBefore)
    expect(Date.now() - started).toBeLessThan(5_000)

    // The other shard's owner: upload, processing and listing all work while shard 1 is down.
    const upUpload = await h.upload(jpeg, 'image/jpeg', {}, keys.up)
    expect(upUpload.statusCode).toBe(202)
    const ready = await waitReady(upUpload.json().id, keys.up)
    expect(ready.status).toBe('ready')
    expect((await list(keys.up)).json().items.map((i: { id: string }) => i.id)).toEqual([ready.id])
    // Readiness follows the control database: one dead shard must not pull every API out of service.
    expect((await h.pf.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)

    await proxy.up()
    await eventually(async () => (await list(keys.down)).statusCode === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'the shard serves its owners again once it is back',
    })
    expect((await list(keys.down)).json().items.map((i: { id: string }) => i.id)).toContain(
      before.id,
    )
  }, 90_000)

  /** Like the harness's waitSettled, for another owner's key. */
  function waitReady(id: string, key: string): Promise<{ id: string; status: string }> {
    return eventually(
      async () => {
        const res = await h.pf.app.inject({
          method: 'GET',
          url: `/v1/images/${id}`,
          headers: { authorization: `Bearer ${key}` },
        })
        const body = res.json()
        return (body.status === 'ready' || body.status === 'failed') && body
      },
      { timeoutMs: 30_000, intervalMs: 50, message: `${id} settled` },
    )
  }
})
