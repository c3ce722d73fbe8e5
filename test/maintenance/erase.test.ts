import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Cache } from '../../src/cache/cache.js'
import { createCache } from '../../src/cache/create-cache.js'
import { newImageId } from '../../src/domain/ids.js'
import type { Image } from '../../src/domain/image.js'
import { objectKeys } from '../../src/domain/image.js'
import { imageKey } from '../../src/images/image-service.js'
import { cachedImageKey, eraseOwner, unfinishedErasures } from '../../src/maintenance/erase.js'
import { authTablesOf } from '../../src/start/control-db.js'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL ?? ''
if (!REDIS_URL)
  console.info(
    'erase.test.ts: PIXELFLOW_TEST_REDIS_URL unset; the cache check runs on an in-process cache only',
  )

/** Everything left of one owner: rows on every shard, objects under its images, cache entries, keys. */
async function remainsOf(h: Harness, cache: Cache<Image>, ownerId: string, ids: string[]) {
  let rows = 0
  let variantRows = 0
  let outbox = 0
  for (const handle of h.pf.deps.metadata.shards()) {
    const shard = await h.pf.deps.metadata.shard(handle.id)
    rows += (
      await shard.db.selectFrom('images').select('id').where('owner_id', '=', ownerId).execute()
    ).length
    variantRows += (
      await shard.db
        .selectFrom('variants')
        .select('image_id')
        .where('image_id', 'in', ids)
        .execute()
    ).length
    outbox += (
      await shard.db.selectFrom('outbox').select('job_id').where('job_id', 'in', ids).execute()
    ).length
  }
  const objects = (
    await Promise.all(ids.map((id) => h.pf.deps.store.list(objectKeys.prefix(id))))
  ).flat()
  const cached = (await Promise.all(ids.map((id) => cache.get(imageKey(id))))).filter(
    (v) => v !== undefined,
  )
  const keys = await h.pf.deps.apiKeys.list(ownerId)
  return { rows, variantRows, outbox, objects, cached: cached.length, keys: keys.length }
}

describe('pixelflow owners erase', () => {
  let h: Harness
  let cache: Cache<Image>
  beforeAll(async () => {
    h = await startHarness({
      PIXELFLOW_PRESETS: 'thumb:64,medium:128',
      ...(REDIS_URL
        ? { PIXELFLOW_REDIS_URL: REDIS_URL, PIXELFLOW_REDIS_PREFIX: `pf-erase-${randomUUID()}:` }
        : {}),
    })
    // The same cache the API reads through: Redis when configured (shared, with pub/sub), else
    // an in-process one that this test fills itself.
    cache = await createCache<Image>(h.config.cache)
  }, 60_000)
  afterAll(async () => {
    await cache?.close()
    await h?.close()
  })

  /** The image's status once it settles, read with its owner's key. */
  const settled = (id: string, key: string) =>
    eventually(
      async () => {
        const { body } = await h.getImage(id, key)
        return ['ready', 'failed'].includes(body.status) ? (body.status as string) : false
      },
      { timeoutMs: 30_000, message: `image ${id} settles` },
    )

  /** An owner's images: `ready` ones, plus one a worker has started and left mid-way. */
  async function seedOwner(key: string, ready: number) {
    const ids: string[] = []
    for (let i = 0; i < ready; i++) {
      const res = await h.upload(await makeJpeg(300, 200), 'image/jpeg', {}, key)
      expect(res.statusCode).toBe(202)
      const id = res.json().id as string
      expect(await settled(id, key)).toBe('ready')
      ids.push(id)
    }
    // Mid-processing: committed and leased (status processing), one variant written so far,
    // as a worker that was killed, or is still working, leaves it.
    const res = await h.upload(await makeJpeg(300, 200), 'image/jpeg', {}, key)
    const id = res.json().id as string
    await settled(id, key)
    const shard = h.pf.deps.metadata.forImageId(id)!
    const row = (await shard.getImage(id))!
    await shard.deleteImage(id)
    const again = await shard.createImage(
      { ...row, idempotencyKey: null },
      // Its job names an id without a row, so the live workers skip it and the image stays
      // `processing` for the whole test, exactly as a worker killed mid-job leaves it.
      JSON.stringify({ v: 2, imageId: newImageId(row.bucket), queuedAt: Date.now() }),
      Date.now(),
    )
    expect('existing' in again).toBe(false)
    await h.pf.deps.store.put(objectKeys.original(id), await makeJpeg(300, 200))
    await h.pf.deps.store.put(objectKeys.variant(id, 'thumb', 'webp'), Buffer.from('partial'))
    expect((await shard.startProcessing(id, Date.now()))?.status).toBe('processing')
    ids.push(id)
    // Every image read once through the cache, as the API does.
    for (const image of ids) {
      const loaded = await cache.getOrLoad(imageKey(image), () => shard.getImage(image))
      expect(loaded).not.toBeNull()
      expect(await cache.get(imageKey(image))).toBeDefined()
    }
    return ids
  }

  it('uses the same cache key as the image service', () => {
    expect(cachedImageKey('x')).toBe(imageKey('x'))
  })

  it('removes every row, object, cache entry and key of one owner, and nothing of another', async () => {
    const carol = `carol-${randomUUID()}`
    const carolKey = (await h.pf.deps.apiKeys.create(carol)).key
    const carolIds = await seedOwner(carolKey, 3)
    const bobIds = await seedOwner(h.bob, 1)
    const before = await remainsOf(h, cache, carol, carolIds)
    expect(before).toMatchObject({ rows: 4, cached: 4, keys: 1 })
    expect(before.objects.length).toBeGreaterThan(10)
    const bobBefore = await remainsOf(h, cache, 'bob', bobIds)

    const purged: string[] = []
    const report = await eraseOwner(
      {
        metadata: h.pf.deps.metadata,
        store: h.pf.deps.store,
        control: authTablesOf(h.pf.deps.control),
        apiKeys: h.pf.deps.apiKeys,
        cache,
        purge: async (image) => {
          purged.push(image.id)
        },
      },
      carol,
    )
    expect(report).toEqual({ ownerId: carol, resumed: false, images: 4, apiKeys: 1 })
    expect(purged.sort()).toEqual([...carolIds].sort())
    expect(await remainsOf(h, cache, carol, carolIds)).toEqual({
      rows: 0,
      variantRows: 0,
      outbox: 0,
      objects: [],
      cached: 0,
      keys: 0,
    })
    // Carol's key is gone, so is the API's view of her images.
    expect((await h.upload(await makeJpeg(), 'image/jpeg', {}, carolKey)).statusCode).toBe(401)
    expect((await h.getImage(carolIds[0]!, h.alice)).status).toBe(404)
    expect(await unfinishedErasures(authTablesOf(h.pf.deps.control))).toEqual([])
    // Bob is untouched, and his ready image is still served.
    // (The outbox is left out: the relay drains Bob's job row whenever it likes.)
    const { outbox: _, ...bobAfter } = await remainsOf(h, cache, 'bob', bobIds)
    expect(bobAfter).toEqual({ ...bobBefore, outbox: undefined })
    const { body } = await h.getImage(bobIds[0]!, h.bob)
    expect(body.status).toBe('ready')
    const variant = await h.pf.app.inject({
      method: 'GET',
      url: new URL(body.variants[0].url).pathname,
    })
    expect(variant.statusCode).toBe(200)
  }, 120_000)

  it('resumes after a crash: a second run finishes what the first left', async () => {
    const dave = `dave-${randomUUID()}`
    const daveKey = (await h.pf.deps.apiKeys.create(dave)).key
    const ids = await seedOwner(daveKey, 2)
    const deps = {
      metadata: h.pf.deps.metadata,
      store: h.pf.deps.store,
      control: authTablesOf(h.pf.deps.control),
      apiKeys: h.pf.deps.apiKeys,
      cache,
    }
    // The first run dies right after deleting its first image's row, before its objects.
    const crashed = eraseOwner(
      {
        ...deps,
        purge: async () => {
          throw new Error('killed')
        },
      },
      dave,
    )
    await expect(crashed).rejects.toThrow('killed')
    expect(await unfinishedErasures(deps.control)).toEqual([
      { ownerId: dave, startedAt: expect.any(Number), erased: 0 },
    ])
    const middle = await remainsOf(h, cache, dave, ids)
    expect(middle.rows).toBe(2) // one row went; its objects did not
    expect(middle.objects.length).toBeGreaterThan(0)

    const report = await eraseOwner(deps, dave)
    expect(report).toMatchObject({ ownerId: dave, resumed: true, images: 3 })
    expect(await remainsOf(h, cache, dave, ids)).toEqual({
      rows: 0,
      variantRows: 0,
      outbox: 0,
      objects: [],
      cached: 0,
      keys: 0,
    })
    expect(await unfinishedErasures(deps.control)).toEqual([])
  }, 120_000)
})
