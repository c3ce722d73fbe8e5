import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BUCKET_COUNT } from '../../src/domain/bucket.js'
import { SHARD_MIGRATIONS } from '../../src/metadata/migrations/index.js'
import { stateOf } from '../../src/metadata/ownership.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { createMover } from '../../src/sharding/mover.js'
import { insertImage, variantsOf } from '../fixtures/image-rows.js'
import {
  createMetadataEnv,
  type MetadataDialect,
  type MetadataEnv,
} from '../fixtures/metadata-env.js'
import { metadataDedupeContract } from './metadata-dedupe.contract.js'
import { metadataEventsContract } from './metadata-events.contract.js'

/** Every shard ends migrated to the last migration there is. */
const LATEST_MIGRATION = Object.keys(SHARD_MIGRATIONS).at(-1)

/** Every image row on every shard, raw (no ownership filter): where rows really are. */
export async function rowsByShard(
  metadata: ShardedMetadata,
): Promise<Map<number, { id: string; bucket: number }[]>> {
  const out = new Map<number, { id: string; bucket: number }[]>()
  for (const handle of metadata.shards()) {
    const shard = await metadata.shard(handle.id)
    out.set(handle.id, await shard.db.selectFrom('images').select(['id', 'bucket']).execute())
  }
  return out
}

/** The sharded metadata contract: the same cases on SQLite files and on PostgreSQL databases. */
export function metadataContract(dialect: MetadataDialect): void {
  describe(`sharded metadata on ${dialect}`, () => {
    let env: MetadataEnv
    let metadata: ShardedMetadata

    beforeEach(async () => {
      env = await createMetadataEnv(dialect, 4, 1)
      metadata = (await env.open()).metadata
    })
    afterEach(() => env.cleanup())

    it('routes each owner to the shard the directory names and keeps rows there', async () => {
      const owners = Array.from({ length: 40 }, (_, i) => `owner-${i}`)
      const ids = await Promise.all(owners.map(async (o) => (await insertImage(metadata, o)).id))
      const placed = await rowsByShard(metadata)
      const directory = metadata.directory()
      let total = 0
      for (const [shard, rows] of placed) {
        for (const row of rows) expect(directory.shardOf[row.bucket]).toBe(shard)
        total += rows.length
      }
      expect(total).toBe(ids.length)
      expect(
        new Set([...placed.values()].filter((r) => r.length > 0).map((r) => r.length)).size,
      ).toBeGreaterThan(0)
      expect([...placed.values()].filter((rows) => rows.length > 0).length).toBeGreaterThan(1)
    })

    it('processes starting together on fresh databases all migrate and agree on the directory', async () => {
      await env.cleanup()
      env = await createMetadataEnv(dialect, 4, 0)
      const opened = await Promise.all([env.open(), env.open(), env.open()])
      expect(new Set(opened.map((o) => o.metadata.directory().epoch))).toEqual(new Set([1]))
      expect(
        (await opened[0]!.metadata.stats()).every((r) => r.stats?.migration === LATEST_MIGRATION),
      ).toBe(true)
    })

    it('round-trips create, get, list, update and delete through the bucket-bound store', async () => {
      const image = await insertImage(metadata, 'alice')
      const store = metadata.forImageId(image.id)!
      expect((await store.getImage(image.id))?.status).toBe('queued')
      expect((await store.startProcessing(image.id, Date.now()))?.attempts).toBe(1)
      expect(
        await store.completeImage(
          image.id,
          {
            variants: variantsOf(image.id),
            placeholder: { type: 'blurhash', value: 'p' },
            dominantColor: '#a0b1c2',
          },
          Date.now(),
        ),
      ).toBe(true)
      expect(await store.getImage(image.id)).toMatchObject({
        placeholder: { type: 'blurhash', value: 'p' },
        dominantColor: '#a0b1c2',
      })
      expect((await store.getImage(image.id))?.variants).toHaveLength(2)
      expect((await store.getImage(image.id))?.focalPoint).toBeNull()
      const focused = await store.setFocalPoint(image.id, { x: 0.25, y: 0.75 }, Date.now())
      expect(focused?.focalPoint).toEqual({ x: 0.25, y: 0.75 })
      expect((await store.getImage(image.id))?.focalPoint).toEqual({ x: 0.25, y: 0.75 })
      expect((await store.setFocalPoint(image.id, null, Date.now()))?.focalPoint).toBeNull()
      expect(await store.setFocalPoint('01m0000000000000000000000000', null, 0)).toBeNull()
      // Reprocessing swaps the variant rows of a ready image, versions included.
      const versioned = variantsOf(image.id).map((v) => ({
        ...v,
        version: '0a1b2c3d',
        key: `${v.key}.v2`,
      }))
      const before = await store.replaceVariants(image.id, versioned, Date.now())
      expect(before?.variants.map((v) => v.version)).toEqual([null, null])
      const after = await store.getImage(image.id)
      const keys = (list: { version: string | null; key: string }[]) =>
        list.map((v) => `${v.version} ${v.key}`).sort()
      expect(keys(after?.variants ?? [])).toEqual(keys(versioned))
      expect(after?.status).toBe('ready')
      expect((await metadata.forOwner('alice').listImages('alice', 10)).map((i) => i.id)).toEqual([
        image.id,
      ])
      expect((await store.deleteImage(image.id))?.id).toBe(image.id)
      expect(await store.getImage(image.id)).toBeNull()
    })

    it('finds stuck images (unfinished, untouched, no outbox row) and settles each once', async () => {
      const owner = 'stuck-owner'
      const shardId = metadata.directory().shardOf[metadata.bucketOfOwner(owner)] as number
      const shard = await metadata.shard(shardId)
      const [lost, waiting, done] = [
        await insertImage(metadata, owner),
        await insertImage(metadata, owner),
        await insertImage(metadata, owner),
      ]
      // The relay published `lost` and `done` (their outbox rows are gone); `waiting` still waits.
      const outbox = await shard.readOutbox(10)
      await shard.removeOutbox(outbox.filter((o) => o.jobId !== waiting.id).map((o) => o.seq))
      const store = metadata.forOwner(owner)
      await store.failImage(done.id, 'IMAGE_UNDECODABLE', 'x', Date.now())
      const later = Date.now() + 60_000
      const found = await shard.findStuck(later, 10)
      expect(found).toEqual([
        {
          id: lost.id,
          bucket: lost.bucket,
          status: 'queued',
          updatedAt: lost.updatedAt,
          requeues: 0,
        },
      ])
      expect(await shard.findStuck(lost.updatedAt, 10)).toEqual([]) // not old enough
      // Two sweepers with the same reading: one requeue wins.
      const payload = JSON.stringify({ imageId: lost.id })
      const results = await Promise.all([
        store.requeueStuck(lost.id, lost.updatedAt, payload, later),
        store.requeueStuck(lost.id, lost.updatedAt, payload, later),
      ])
      expect(results.sort()).toEqual([false, true])
      expect((await shard.readOutbox(10)).map((o) => o.jobId).sort()).toEqual(
        [lost.id, waiting.id].sort(),
      )
      const again = Date.now() + 120_000
      await shard.removeOutbox((await shard.readOutbox(10)).map((o) => o.seq))
      expect(await shard.findStuck(again, 10)).toMatchObject([
        // Oldest first: the requeue moved `lost` behind `waiting`.
        { id: waiting.id, requeues: 0 },
        { id: lost.id, requeues: 1, updatedAt: later },
      ])
      expect(await store.failStuck(lost.id, lost.updatedAt, 'PROCESSING_STUCK', 'd', again)).toBe(
        false, // a stale reading changes nothing
      )
      expect(await store.failStuck(lost.id, later, 'PROCESSING_STUCK', 'd', again)).toBe(true)
      expect((await store.getImage(lost.id))?.failure?.code).toBe('PROCESSING_STUCK')
    })

    it('pages the cross-shard listing newest first, each image once', async () => {
      const ids: string[] = []
      for (let i = 0; i < 60; i++) ids.push((await insertImage(metadata, `lister-${i % 17}`)).id)
      const seen: string[] = []
      for (let before: string | undefined; ; ) {
        const page = await metadata.listAll(7, before)
        if (page.length === 0) break
        seen.push(...page.map((i) => i.id))
        before = page.at(-1)!.id
      }
      expect(seen).toEqual([...ids].sort().reverse())
    })

    it('reports rows, bytes, buckets and hottest owners per shard', async () => {
      for (let i = 0; i < 5; i++) await insertImage(metadata, 'hot-owner')
      await insertImage(metadata, 'cold-owner')
      const reports = await metadata.stats()
      expect(reports).toHaveLength(4)
      expect(reports.reduce((n, r) => n + (r.stats?.rows ?? 0), 0)).toBe(6)
      expect(reports.reduce((n, r) => n + (r.stats?.buckets.owned ?? 0), 0)).toBe(BUCKET_COUNT)
      const hot = reports.find((r) => r.stats?.hottestOwners[0]?.ownerId === 'hot-owner')
      expect(hot?.stats?.hottestOwners[0]?.rows).toBe(5)
      expect(reports.every((r) => r.stats?.migration === LATEST_MIGRATION)).toBe(true)
    })

    it('moves a bucket online: rows and digest on the target, source cleaned, epoch bumped', async () => {
      const owner = 'mover-owner'
      const bucket = metadata.bucketOfOwner(owner)
      const ids = await Promise.all(
        Array.from({ length: 25 }, async () => (await insertImage(metadata, owner)).id),
      )
      await metadata
        .forOwner(owner)
        .completeImage(ids[0]!, { variants: variantsOf(ids[0]!), placeholder: null }, Date.now())
      await metadata.forOwner(owner).setFocalPoint(ids[0]!, { x: 0.1, y: 0.9 }, Date.now())
      await metadata.forOwner(owner).replaceVariants(
        ids[0]!,
        variantsOf(ids[0]!).map((v) => ({ ...v, version: 'feedc0de' })),
        Date.now(),
      )
      const source = metadata.directory().shardOf[bucket]!
      const target = (source + 1) % 4
      const epoch = metadata.directory().epoch
      const moved = await createMover({ metadata, chunkSize: 7 }).moveBucket(bucket, target)
      expect(moved?.phase).toBe('done')
      expect(moved?.rows_copied).toBe(25)
      expect(metadata.directory().shardOf[bucket]).toBe(target)
      expect(metadata.directory().epoch).toBe(epoch + 1)
      const placed = await rowsByShard(metadata)
      expect(placed.get(source)!.filter((r) => r.bucket === bucket)).toEqual([])
      expect(placed.get(target)!.filter((r) => r.bucket === bucket)).toHaveLength(25)
      expect(await stateOf((await metadata.shard(source)).db, bucket)).toBeNull()
      expect(await stateOf((await metadata.shard(target)).db, bucket)).toBe('owned')
      expect(
        (await metadata.forOwner(owner).getImage(ids[0]!))?.variants.map((v) => v.version),
      ).toEqual(['feedc0de', 'feedc0de'])
      expect((await metadata.forOwner(owner).getImage(ids[0]!))?.focalPoint).toEqual({
        x: 0.1,
        y: 0.9,
      })
      expect((await metadata.forOwner(owner).listImages(owner, 100)).length).toBe(25)
    })

    it('a process with a stale directory is refused by the old shard, refreshes and writes to the new one', async () => {
      const other = (await env.open()).metadata
      const owner = 'stale-owner'
      const bucket = metadata.bucketOfOwner(owner)
      const first = await insertImage(other, owner)
      const target = (metadata.directory().shardOf[bucket]! + 2) % 4
      await createMover({ metadata }).moveBucket(bucket, target)
      expect(other.directory().shardOf[bucket]).not.toBe(target) // still stale
      const second = await insertImage(other, owner)
      expect(other.directory().shardOf[bucket]).toBe(target)
      expect((await other.forOwner(owner).listImages(owner, 10)).map((i) => i.id).sort()).toEqual(
        [first.id, second.id].sort(),
      )
      const placed = await rowsByShard(metadata)
      expect(placed.get(target)!.filter((r) => r.bucket === bucket)).toHaveLength(2)
    })

    it('range strategy: owner-id ranges land on their shard; the strategy is kept and cannot change', async () => {
      await env.cleanup()
      env = await createMetadataEnv(dialect, 4, 0)
      const ranged = (await env.open({ strategy: 'range', rangeSplits: ['1000', '2000', '3000'] }))
        .metadata
      const shardOfOwner = (owner: string) =>
        ranged.directory().shardOf[ranged.bucketOfOwner(owner)]
      expect(
        ['1', '999', '1000', '1999', '2000', '2999', '3000', '99999'].map(shardOfOwner),
      ).toEqual([0, 0, 1, 1, 2, 2, 3, 3])
      const image = await insertImage(ranged, '1500')
      expect((await rowsByShard(ranged)).get(1)!.map((r) => r.id)).toEqual([image.id])
      await expect(env.open({ strategy: 'hash', rangeSplits: [] })).rejects.toThrow(
        /strategy .* cannot change/,
      )
      await expect(
        env.open({ strategy: 'range', rangeSplits: ['1000', '2000', '4000'] }),
      ).rejects.toThrow(/cannot change/)
    })

    it('directory strategy: a placed owner goes to its bucket in every process after a refresh; others hash', async () => {
      await env.cleanup()
      env = await createMetadataEnv(dialect, 4, 0)
      const one = (await env.open({ strategy: 'directory' })).metadata
      const two = (await env.open({ strategy: 'directory' })).metadata
      const hashed = two.bucketOfOwner('vip')
      const chosen = (hashed + 2048) % BUCKET_COUNT
      await one.directoryStore.place('vip', chosen)
      await two.refresh()
      expect(two.bucketOfOwner('vip')).toBe(chosen)
      expect(two.bucketOfOwner('regular')).toBe(one.bucketOfOwner('regular'))
      const image = await insertImage(two, 'vip')
      expect(image.bucket).toBe(chosen)
      expect(
        (await rowsByShard(one)).get(one.directory().shardOf[chosen]!)!.map((r) => r.id),
      ).toEqual([image.id])
    })

    it('refuses a config whose shard list disagrees with the registry', async () => {
      await expect(env.open({ shards: [...env.config.shards].reverse() })).rejects.toThrow(
        /in the control database but/,
      )
      await expect(env.open({ shards: [...env.config.shards, env.spare[0]!] })).rejects.toThrow(
        /is not registered: add it with `pixelflow shards add/,
      )
    })

    it('adds a shard, migrated before it holds buckets, and rebalances 4 → 5 moving only to it', async () => {
      for (let i = 0; i < 30; i++) await insertImage(metadata, `spread-${i}`)
      const before = [...metadata.directory().shardOf]
      const id = await metadata.addShard(env.spare[0]!)
      expect(id).toBe(4)
      const mover = createMover({ metadata, parallel: 8 })
      const plan = await mover.plan()
      expect([819, 820]).toContain(plan.length)
      expect(plan.every((m) => m.to === 4)).toBe(true)
      await mover.run(plan)
      const after = metadata.directory().shardOf
      const changed = after.filter((s, b) => s !== before[b])
      expect(changed.length).toBe(plan.length)
      expect(changed.every((s) => s === 4)).toBe(true)
      const placed = await rowsByShard(metadata)
      for (const [shard, rows] of placed)
        for (const row of rows) expect(after[row.bucket]).toBe(shard)
      expect([...placed.values()].reduce((n, r) => n + r.length, 0)).toBe(30)
    }, 120_000)
  })
  metadataEventsContract(dialect)
  metadataDedupeContract(dialect)
}
