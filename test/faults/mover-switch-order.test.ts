import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { stateOf } from '../../src/metadata/ownership.js'
import { createMover } from '../../src/sharding/mover.js'
import { insertImage } from '../fixtures/image-rows.js'
import { bucketToMove, createMetadataEnv, type MetadataEnv } from '../fixtures/metadata-env.js'

/**
 * The switch hands a bucket over target first: the target takes it, then the source lets go. A
 * target that cannot be written in between must leave the source serving the bucket's reads, and
 * listings across shards covering every bucket; written the other way round (or both at once), a
 * failed target write left no shard serving the bucket until the move was resumed. Then the
 * directory moves the bucket and the move's next phase is recorded in one transaction: a failure
 * of either leaves both as they were, and the move resumable.
 *
 * SQLite only: the failure is injected with a trigger on the target, and the order under test is
 * the mover's, the same on both dialects.
 */
describe("the mover's switch, when one of its writes fails", () => {
  let env: MetadataEnv | undefined
  afterEach(async () => {
    await env?.cleanup()
    env = undefined
  })

  it("the target's ownership write: leaves the source serving the bucket, and the move resumable", async () => {
    env = await createMetadataEnv('sqlite', 2, 0)
    const { metadata } = await env.open()
    const owner = 'switch-order-owner'
    const { bucket, source, target, sourceDb, targetDb } = await bucketToMove(metadata, owner)
    const image = await insertImage(metadata, owner)
    let injected = false
    const mover = createMover({
      metadata,
      async onPhase(_move, phase, step) {
        if (phase !== 'switch' || step !== 0 || injected) return
        injected = true
        await sql`CREATE TRIGGER refuse_owned BEFORE UPDATE ON bucket_ownership
                  WHEN NEW.state = 'owned'
                  BEGIN SELECT RAISE(ABORT, 'injected: target refuses the bucket'); END`.execute(
          targetDb,
        )
      },
    })
    await expect(mover.moveBucket(bucket, target)).rejects.toThrow(/injected/)
    expect((await metadata.directoryStore.moves.get(bucket))?.phase).toBe('switch')
    // The source still holds the bucket (fenced: reads served, writes wait) and reads it.
    expect(await stateOf(sourceDb, bucket)).toBe('fenced')
    expect(metadata.directory().shardOf[bucket]).toBe(source)
    expect((await metadata.forImageId(image.id)!.getImage(image.id))?.id).toBe(image.id)
    expect((await metadata.listAll(10)).map((i) => i.id)).toContain(image.id)

    await sql`DROP TRIGGER refuse_owned`.execute(targetDb)
    expect((await mover.moveBucket(bucket, target))?.phase).toBe('done')
    expect(metadata.directory().shardOf[bucket]).toBe(target)
    expect((await metadata.forImageId(image.id)!.getImage(image.id))?.id).toBe(image.id)
  })

  // The record failing catches a record made after the switch, in a statement of its own (the
  // directory would have switched); the switch failing catches one made before it ('cleanup'
  // would then delete the source's rows on resume while the directory still pointed there).
  it.each([
    [
      'the record of the next phase fails',
      `CREATE TRIGGER injected BEFORE UPDATE ON bucket_moves WHEN NEW.phase = 'cleanup'
       BEGIN SELECT RAISE(ABORT, 'injected: the record fails'); END`,
    ],
    [
      'the directory refuses the switch',
      `CREATE TRIGGER injected BEFORE UPDATE ON bucket_directory
       BEGIN SELECT RAISE(ABORT, 'injected: the switch fails'); END`,
    ],
  ])(
    'switches the directory and records the next phase together, or neither: %s',
    async (_, trigger) => {
      env = await createMetadataEnv('sqlite', 2, 0)
      const { metadata, control } = await env.open()
      const owner = 'switch-record-owner'
      const { bucket, source, target } = await bucketToMove(metadata, owner)
      const image = await insertImage(metadata, owner)
      const epoch = await metadata.directoryStore.epoch()
      await sql.raw(trigger).execute(control)
      const mover = createMover({ metadata })
      await expect(mover.moveBucket(bucket, target)).rejects.toThrow(/injected/)
      expect((await metadata.directoryStore.moves.get(bucket))?.phase).toBe('switch')
      expect((await metadata.refresh()).shardOf[bucket]).toBe(source)
      expect(await metadata.directoryStore.epoch()).toBe(epoch)

      await sql`DROP TRIGGER injected`.execute(control)
      expect((await mover.moveBucket(bucket, target))?.phase).toBe('done')
      expect(metadata.directory().shardOf[bucket]).toBe(target)
      expect((await metadata.forImageId(image.id)!.getImage(image.id))?.id).toBe(image.id)
    },
  )
})
