import { afterEach, describe, expect, it } from 'vitest'
import { createEventFeed } from '../../src/events/feed.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { createMover } from '../../src/sharding/mover.js'
import { insertImage } from '../fixtures/image-rows.js'
import { createMetadataEnv, METADATA_DIALECTS, type MetadataEnv } from '../fixtures/metadata-env.js'

/**
 * Events stay on the shard that wrote them; a bucket move does not copy them. A reader positioned
 * before the move reads both shards from its own position on each and sees every event once.
 */
describe.each(METADATA_DIALECTS)('event feed across a bucket move (%s)', (dialect) => {
  let env: MetadataEnv
  afterEach(() => env.cleanup())

  async function failOne(metadata: ShardedMetadata, owner: string): Promise<string> {
    const image = await insertImage(metadata, owner)
    await metadata.forOwner(owner).failImage(image.id, 'X', 'y', Date.now())
    return image.id
  }

  it('resumes across the move without a gap or a repeat, and a shard added later is read from its start', async () => {
    env = await createMetadataEnv(dialect, 2, 1)
    const { metadata } = await env.open()
    const feed = createEventFeed({ shards: metadata, batchSize: 2 })
    const owner = 'moving-owner'
    const { cursor } = await feed.open()
    const before = [await failOne(metadata, owner), await failOne(metadata, owner)]
    const page = await feed.read(owner, cursor)
    expect(page.entries.map((e) => e.event.data.imageId)).toEqual(before)
    const resumeFrom = page.id

    const bucket = metadata.bucketOfOwner(owner)
    const source = metadata.directory().shardOf[bucket] as number
    const spare = await metadata.addShard(env.spare[0]!)
    await createMover({ metadata }).moveBucket(bucket, spare)
    expect(metadata.directory().shardOf[bucket]).toBe(spare)
    const after = [
      await failOne(metadata, owner),
      await failOne(metadata, owner),
      await failOne(metadata, owner),
    ]

    const resumed = await feed.open(resumeFrom)
    expect(resumed.expired).toBe(false)
    const seen: { id: string; shard: number | null }[] = []
    for (let i = 0; i < 5; i++) {
      const next = await feed.read(owner, resumed.cursor)
      seen.push(...next.entries.map((e) => ({ id: e.event.data.imageId, shard: e.event.shardId })))
      if (!next.more && next.entries.length === 0) break
    }
    expect(seen.map((s) => s.id)).toEqual(after)
    expect(new Set(seen.map((s) => s.shard))).toEqual(new Set([spare]))
    // The events from before the move are still where they were written.
    const old = await (await metadata.shard(source)).readOwnerEvents(owner, 0, 10)
    expect(old.events.map((e) => e.data.imageId)).toEqual(before)
  })
})
