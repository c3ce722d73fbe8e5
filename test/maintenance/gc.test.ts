import { utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newImageId } from '../../src/domain/ids.js'
import { objectKeys } from '../../src/domain/image.js'
import { collectGarbage, createGcMetrics } from '../../src/maintenance/gc.js'
import { recogniseKey } from '../../src/maintenance/object-kinds.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

const HOUR = 60 * 60 * 1000

describe('the orphaned-object garbage collector', () => {
  let h: Harness
  let live: string
  let deletedRow: string
  let refused: string
  let young: string
  let liveObjects: string[]
  let deletedRowObjects: string[]
  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_PRESETS: 'thumb:64', PIXELFLOW_FORMATS: 'webp,jpeg' })
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      const res = await h.upload(await makeJpeg(200, 150), 'image/jpeg')
      ids.push(res.json().id)
      expect((await h.waitSettled(res.json().id)).status).toBe('ready')
    }
    ;[live, deletedRow] = ids as [string, string]
    liveObjects = await h.pf.deps.store.list(objectKeys.prefix(live))
    deletedRowObjects = await h.pf.deps.store.list(objectKeys.prefix(deletedRow))
    expect(deletedRowObjects).toHaveLength(3)
    // A crash between the row delete and the objects' delete.
    await h.pf.deps.metadata.forImageId(deletedRow)?.deleteImage(deletedRow)
    // An upload refused after its original was stored, its clean-up lost to a crash.
    const bucket = h.pf.deps.metadata.bucketOfOwner('alice')
    refused = newImageId(bucket)
    await h.pf.deps.store.put(objectKeys.original(refused), await makeJpeg(50, 50))
    // An upload streaming right now: stored, its row not committed yet.
    young = newImageId(bucket)
    await h.pf.deps.store.put(objectKeys.original(young), Buffer.from('in flight'))
    // Keys the service does not write: never touched, even under an orphan's folder.
    await h.pf.deps.store.put(`images/${deletedRow}/notes.txt`, Buffer.from('x'))
    await h.pf.deps.store.put('images/not-an-id/original', Buffer.from('x'))
    await h.pf.deps.store.put('operator/readme', Buffer.from('x'))
    // Everything but the in-flight upload is two hours old.
    const old = new Date(Date.now() - 2 * HOUR)
    if (h.config.storage.driver !== 'local') throw new Error('this test ages files on local disk')
    for (const key of await h.pf.deps.store.list('')) {
      if (!key.startsWith(objectKeys.prefix(young)))
        await utimes(join(h.config.storage.root, key), old, old)
    }
  }, 60_000)
  afterAll(() => h?.close())

  it('a dry run reports the orphans and deletes nothing', async () => {
    const before = await h.pf.deps.store.list('')
    const report = await collectGarbage({
      store: h.pf.deps.store,
      metadata: h.pf.deps.metadata,
      olderThanMs: HOUR,
      dryRun: true,
    })
    expect(report.orphanImages).toBe(2)
    expect(report.orphanKeys.sort()).toEqual(
      [...deletedRowObjects, objectKeys.original(refused)].sort(),
    )
    expect(report.imagesTooYoung).toBe(1)
    expect(await h.pf.deps.store.list('')).toEqual(before)
  })

  it('deletes the orphans older than the grace period and nothing else, counting them', async () => {
    const registry = new Registry()
    const metrics = createGcMetrics(registry)
    const report = await collectGarbage({
      store: h.pf.deps.store,
      metadata: h.pf.deps.metadata,
      olderThanMs: HOUR,
      metrics,
    })
    expect(report).toMatchObject({
      dryRun: false,
      orphanImages: 2,
      orphanObjects: 4,
      byKind: { original: 2, variant: 2, derived: 0 },
      imagesTooYoung: 1,
      unrecognisedCount: 2,
      errors: [],
    })
    expect(report.unrecognised.sort()).toEqual(
      [`images/${deletedRow}/notes.txt`, 'images/not-an-id/original'].sort(),
    )
    const left = await h.pf.deps.store.list('')
    expect(left).toEqual(
      [
        ...liveObjects,
        objectKeys.original(young),
        `images/${deletedRow}/notes.txt`,
        'images/not-an-id/original',
        'operator/readme',
      ].sort(),
    )
    // The live image is still served.
    const { body } = await h.getImage(live)
    const variant = await h.pf.app.inject({
      method: 'GET',
      url: new URL(body.variants[0].url).pathname,
    })
    expect(variant.statusCode).toBe(200)
    const text = await registry.metrics()
    expect(text).toContain('pixelflow_gc_objects_total{kind="original",result="deleted"} 2')
    expect(text).toContain('pixelflow_gc_objects_total{kind="variant",result="deleted"} 2')
    expect(text).toContain('pixelflow_gc_objects_total{kind="unknown",result="unrecognised"} 2')
    expect(text).toContain('pixelflow_gc_runs_total{mode="delete"} 1')
  })

  it('skips, never deletes, the images of a shard that does not answer', async () => {
    const orphan = newImageId(7)
    await h.pf.deps.store.put(objectKeys.original(orphan), Buffer.from('x'))
    const report = await collectGarbage({
      store: h.pf.deps.store,
      metadata: {
        forImageId: () =>
          ({
            getImage: async () => {
              throw new Error('shard 2 is down')
            },
          }) as never,
      },
      olderThanMs: 0,
      now: Date.now() + 1000,
    })
    expect(report.orphanObjects).toBe(0)
    expect(report.errors.map((e) => e.error)).toContain('shard 2 is down')
    expect(await h.pf.deps.store.head(objectKeys.original(orphan))).not.toBeNull()
    await h.pf.deps.store.delete(objectKeys.original(orphan))
  })
})

describe('recogniseKey', () => {
  const id = newImageId(42)
  it('knows originals and variants, as objectKeys writes them', () => {
    expect(recogniseKey(objectKeys.original(id))).toEqual({ kind: 'original', imageId: id })
    expect(recogniseKey(objectKeys.variant(id, 'thumb', 'webp'))).toEqual({
      kind: 'variant',
      imageId: id,
    })
    expect(recogniseKey(objectKeys.variant(id, 'large_2x', 'jpeg'))?.kind).toBe('variant')
    expect(recogniseKey(objectKeys.variant(id, 'thumb', 'avif', '0a1b2c3d'))).toEqual({
      kind: 'variant',
      imageId: id,
    })
  })
  it('knows derived transforms, owned by their image like variants', () => {
    const key = objectKeys.derived(id, 'w:300,g:fp:0.5:0.5,f:webp', 'AbC_-123', 'webp')
    expect(recogniseKey(key)).toEqual({ kind: 'derived', imageId: id })
    expect(recogniseKey(`images/${id}/t/bad+name/x.webp`)).toBeNull()
    expect(recogniseKey(`images/x/t/dzoz/x.webp`)).toBeNull()
  })
  it('claims nothing else', () => {
    for (const key of [
      `images/${id}/thumb.txt`,
      `images/${id}/thumb.0A1B2C3D.webp`,
      `images/${id}/thumb.0a1b2c.webp`,
      `images/${id}/thumb.0a1b2c3d.txt`,
      `images/${id}/original.tmp-abc`,
      `images/${id}/sub/thumb.webp`,
      `images/${id}`,
      `images/${id.toUpperCase()}/original`,
      `staging/${id}/original`,
      `images/${'z'.repeat(29)}/original`,
      'images/x/original',
    ])
      expect(recogniseKey(key), key).toBeNull()
  })
})
