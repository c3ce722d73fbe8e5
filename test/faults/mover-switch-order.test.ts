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
 * failed target write left no shard serving the bucket until the move was resumed.
 *
 * SQLite only: the failure is injected with a trigger on the target, and the order under test is
 * the mover's, the same on both dialects.
 */
describe("the mover's switch, when the target's ownership write fails", () => {
  let env: MetadataEnv | undefined
  afterEach(async () => {
    await env?.cleanup()
    env = undefined
  })

  it('leaves the source serving the bucket, and the move resumable', async () => {
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

  it("commits the directory's switch and the move's next phase together, or neither", async () => {
    env = await createMetadataEnv('sqlite', 2, 0)
    const { metadata, control } = await env.open()
    const owner = 'switch-record-owner'
    const { bucket, source, target } = await bucketToMove(metadata, owner)
    const image = await insertImage(metadata, owner)
    const epoch = await metadata.directoryStore.epoch()
    await sql`CREATE TRIGGER refuse_cleanup BEFORE UPDATE ON bucket_moves
              WHEN NEW.phase = 'cleanup'
              BEGIN SELECT RAISE(ABORT, 'injected: the record of the next phase fails'); END`.execute(
      control,
    )
    const mover = createMover({ metadata })
    await expect(mover.moveBucket(bucket, target)).rejects.toThrow(/injected/)
    // The record failed inside the switch's transaction: the directory did not switch either.
    expect((await metadata.directoryStore.moves.get(bucket))?.phase).toBe('switch')
    expect((await metadata.refresh()).shardOf[bucket]).toBe(source)
    expect(await metadata.directoryStore.epoch()).toBe(epoch)

    await sql`DROP TRIGGER refuse_cleanup`.execute(control)
    expect((await mover.moveBucket(bucket, target))?.phase).toBe('done')
    expect(metadata.directory().shardOf[bucket]).toBe(target)
    expect((await metadata.forImageId(image.id)!.getImage(image.id))?.id).toBe(image.id)
  })

  it('never records the next phase ahead of a directory switch that fails', async () => {
    env = await createMetadataEnv('sqlite', 2, 0)
    const { metadata, control } = await env.open()
    const owner = 'switch-first-owner'
    const { bucket, source, target } = await bucketToMove(metadata, owner)
    const image = await insertImage(metadata, owner)
    await sql`CREATE TRIGGER refuse_switch BEFORE UPDATE ON bucket_directory
              BEGIN SELECT RAISE(ABORT, 'injected: the directory refuses the switch'); END`.execute(
      control,
    )
    const mover = createMover({ metadata })
    await expect(mover.moveBucket(bucket, target)).rejects.toThrow(/injected/)
    // Recorded first, 'cleanup' would delete the source's rows on resume while the directory
    // still pointed there.
    expect((await metadata.directoryStore.moves.get(bucket))?.phase).toBe('switch')
    expect((await metadata.refresh()).shardOf[bucket]).toBe(source)

    await sql`DROP TRIGGER refuse_switch`.execute(control)
    expect((await mover.moveBucket(bucket, target))?.phase).toBe('done')
    expect((await metadata.forImageId(image.id)!.getImage(image.id))?.id).toBe(image.id)
  })
})
