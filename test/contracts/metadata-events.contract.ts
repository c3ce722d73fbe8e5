import { describe, expect, it } from 'vitest'
import { appendEvent } from '../../src/metadata/shard-events.js'
import type { ShardStore } from '../../src/metadata/shard-store.js'
import { insertImage, variantsOf } from '../fixtures/image-rows.js'
import { freshMetadataPerTest, type MetadataDialect } from '../fixtures/metadata-env.js'

/** The event outbox of the shard store: the same cases on SQLite files and on PostgreSQL. */
export function metadataEventsContract(dialect: MetadataDialect): void {
  describe(`event outbox on ${dialect}`, () => {
    const fresh = freshMetadataPerTest(dialect, 2)

    async function shardOf(owner: string): Promise<ShardStore> {
      return fresh.metadata.shard(
        fresh.metadata.directory().shardOf[fresh.metadata.bucketOfOwner(owner)] as number,
      )
    }

    it('writes image.ready, image.failed and image.deleted with the change, only when it happened', async () => {
      const owner = 'events-owner'
      const shard = await shardOf(owner)
      const store = fresh.metadata.forOwner(owner)
      const [ready, failed, stuck] = [
        await insertImage(fresh.metadata, owner),
        await insertImage(fresh.metadata, owner),
        await insertImage(fresh.metadata, owner),
      ]
      const done = { variants: variantsOf(ready.id), placeholder: null }
      expect(await store.completeImage(ready.id, done, 1_000)).toBe(true)
      expect(await store.completeImage(ready.id, done, 2_000)).toBe(false) // a duplicate delivery
      expect(await store.failImage(failed.id, 'IMAGE_UNDECODABLE', 'bad bytes', 3_000)).toBe(true)
      expect(await store.failImage(failed.id, 'IMAGE_UNDECODABLE', 'again', 4_000)).toBe(false)
      expect(await store.failStuck(stuck.id, stuck.updatedAt, 'PROCESSING_STUCK', 'x', 5_000)).toBe(
        true,
      )
      expect((await store.deleteImage(ready.id))?.id).toBe(ready.id)
      expect(await store.deleteImage(ready.id)).toBeNull()

      const events = await shard.readEvents(0, 100)
      expect(events.map((e) => [e.type, e.data.imageId])).toEqual([
        ['image.ready', ready.id],
        ['image.failed', failed.id],
        ['image.failed', stuck.id],
        ['image.deleted', ready.id],
      ])
      expect(events[0]).toMatchObject({
        ownerId: owner,
        occurredAt: 1_000,
        bucket: ready.bucket,
        shardId: fresh.metadata.directory().shardOf[ready.bucket],
        data: { imageId: ready.id, status: 'ready' },
      })
      expect(events[1]?.data).toEqual({
        imageId: failed.id,
        status: 'failed',
        failure: { code: 'IMAGE_UNDECODABLE', detail: 'bad bytes' },
      })
      expect(events[2]?.data.failure?.code).toBe('PROCESSING_STUCK')
      // Ids are unique per event, seqs increase.
      expect(new Set(events.map((e) => e.id)).size).toBe(4)
      expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b))
    })

    it('a rolled-back change leaves no event', async () => {
      const owner = 'rollback-owner'
      const shard = await shardOf(owner)
      const image = await insertImage(fresh.metadata, owner)
      // A completion whose variant rows collide (same name and format twice) fails and rolls back.
      const [one] = variantsOf(image.id)
      await expect(
        fresh.metadata
          .forOwner(owner)
          .completeImage(image.id, { variants: [one!, one!], placeholder: null }, Date.now()),
      ).rejects.toThrow()
      // An event appended in a transaction that then throws.
      await expect(
        shard.db.transaction().execute(async (trx) => {
          await appendEvent(trx, {
            bucket: image.bucket,
            ownerId: owner,
            imageId: image.id,
            type: 'image.ready',
            data: { imageId: image.id, status: 'ready' },
            now: Date.now(),
          })
          throw new Error('rolled back')
        }),
      ).rejects.toThrow('rolled back')
      expect(await shard.readEvents(0, 10)).toEqual([])
      expect((await fresh.metadata.forOwner(owner).getImage(image.id))?.status).toBe('queued')
    })

    it('pages every owner by seq, and one owner with a resumable position', async () => {
      const shard = await shardOf('pager-a')
      // Two owners on the same shard: hash owners until one lands there.
      const other = Array.from({ length: 200 }, (_, i) => `pager-${i}`).find(
        (o) =>
          o !== 'pager-a' &&
          fresh.metadata.directory().shardOf[fresh.metadata.bucketOfOwner(o)] ===
            fresh.metadata.directory().shardOf[fresh.metadata.bucketOfOwner('pager-a')],
      ) as string
      const mine: string[] = []
      for (let i = 0; i < 5; i++) {
        for (const owner of ['pager-a', other]) {
          const image = await insertImage(fresh.metadata, owner)
          await fresh.metadata.forOwner(owner).failImage(image.id, 'X', 'y', Date.now())
          if (owner === 'pager-a') mine.push(image.id)
        }
      }
      const all: number[] = []
      for (let after = 0; ; ) {
        const page = await shard.readEvents(after, 3)
        if (page.length === 0) break
        all.push(...page.map((e) => e.seq))
        after = page.at(-1)!.seq
      }
      expect(all).toHaveLength(10)
      expect(new Set(all).size).toBe(10)

      const first = await shard.readOwnerEvents('pager-a', 0, 3)
      expect(first.events.map((e) => e.data.imageId)).toEqual(mine.slice(0, 3))
      expect(first.position).toBe(first.events.at(-1)!.seq) // cut by the limit: resume there
      const rest = await shard.readOwnerEvents('pager-a', first.position, 100)
      expect(rest.events.map((e) => e.data.imageId)).toEqual(mine.slice(3))
      expect(rest.position).toBe(await shard.eventsHead()) // complete: the settled head
      expect(rest.position).toBe(Math.max(...all))
      expect((await shard.readOwnerEvents('pager-a', rest.position, 100)).events).toEqual([])
    })

    it('prunes events older than a time and says how far it pruned', async () => {
      const owner = 'pruned-owner'
      const shard = await shardOf(owner)
      const store = fresh.metadata.forOwner(owner)
      expect(await shard.eventsHead()).toBe(0)
      const ids = []
      for (const at of [1_000, 2_000, 3_000]) {
        const image = await insertImage(fresh.metadata, owner)
        await store.failImage(image.id, 'X', 'y', at)
        ids.push(image.id)
      }
      const seqs = (await shard.readEvents(0, 10)).map((e) => e.seq)
      expect(await shard.eventsPrunedThrough()).toBe(0)
      expect(await shard.pruneEvents(2_500)).toBe(2)
      expect(await shard.eventsPrunedThrough()).toBe(seqs[1])
      expect((await shard.readEvents(0, 10)).map((e) => e.data.imageId)).toEqual([ids[2]])
      expect(await shard.pruneEvents(2_500)).toBe(0)
      expect(await shard.pruneEvents(10_000)).toBe(1)
      // Empty, the head stays where the events were, and seqs never restart.
      expect(await shard.eventsHead()).toBe(seqs[2])
      const next = await insertImage(fresh.metadata, owner)
      await store.failImage(next.id, 'X', 'y', 4_000)
      expect((await shard.readEvents(0, 10))[0]!.seq).toBeGreaterThan(seqs[2]!)
    })
  })
}
