import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import type { BucketMoveRow } from '../../src/metadata/control-db.js'
import { stateOf } from '../../src/metadata/ownership.js'
import { createMover } from '../../src/sharding/mover.js'
import { insertImage } from '../fixtures/image-rows.js'
import { bucketToMove, createMetadataEnv, type MetadataEnv } from '../fixtures/metadata-env.js'

/**
 * A verify that fails half-way (src/sharding/mover.ts, 3b71df9). Under the fence the verify replays
 * the change log, then compares both sides, from the catch-up's hashes where it has them: only the
 * images it replayed are hashed again. An attempt that fails after replaying some images has
 * consumed their log rows, so a retry in the same process would not know them: it must read both
 * sides whole, or a target row that went wrong in between would pass on its stale hash.
 *
 * SQLite only: the failure is injected with a trigger on the target, and the logic under test is
 * the mover's, the same on both dialects.
 */
describe("the mover's verify, retried after failing half-way", () => {
  let env: MetadataEnv | undefined
  afterEach(async () => {
    await env?.cleanup()
    env = undefined
  })

  /**
   * A move whose first verify replays image a, then fails on image b: both were written on the
   * source after the catch-up hashed it, and the target refuses b once (a trigger).
   */
  async function failedHalfWay() {
    env = await createMetadataEnv('sqlite', 2, 0)
    const { metadata } = await env.open()
    const owner = 'verify-owner'
    const { bucket, source, target, targetDb } = await bucketToMove(metadata, owner)
    const a = await insertImage(metadata, owner)
    const b = await insertImage(metadata, owner)
    const mover = createMover({
      metadata,
      chunkSize: 1, // one log row per replay: a, then b
      async onPhase(_move: BucketMoveRow, phase) {
        if (phase !== 'fence') return
        // The catch-up is done and has hashed both sides; the source still takes writes, logged.
        for (const image of [a, b])
          await metadata.forImageId(image.id)!.startProcessing(image.id, Date.now())
        await sql`CREATE TRIGGER refuse_b BEFORE INSERT ON images WHEN NEW.id = ${sql.lit(b.id)}
                  BEGIN SELECT RAISE(ABORT, 'injected: target refuses b'); END`.execute(targetDb)
      },
    })
    await expect(mover.moveBucket(bucket, target)).rejects.toThrow(/injected/)
    const stuck = await metadata.directoryStore.moves.get(bucket)
    expect(stuck?.phase).toBe('verify')
    await sql`DROP TRIGGER refuse_b`.execute(targetDb)
    return { metadata, mover, bucket, source, target, targetDb, a, b }
  }

  it('completes on the retry, with both writes on the target', async () => {
    const { metadata, mover, bucket, target, a, b } = await failedHalfWay()
    const done = await mover.moveBucket(bucket, target)
    expect(done?.phase).toBe('done')
    for (const image of [a, b])
      expect((await metadata.forImageId(image.id)!.getImage(image.id))?.attempts).toBe(1)
    expect(metadata.directory().shardOf[bucket]).toBe(target)
  })

  it('catches on the retry a target row that changed after the failed attempt replayed it', async () => {
    const { metadata, mover, bucket, source, target, targetDb, a } = await failedHalfWay()
    // a was replayed by the failed attempt (its log row is gone); the target's copy now differs.
    await targetDb
      .updateTable('images')
      .set({ bytes: sql`bytes + 1` })
      .where('id', '=', a.id)
      .execute()
    const ended = await mover.moveBucket(bucket, target)
    expect(ended?.phase).toBe('failed')
    expect(ended?.detail).toMatch(/verify failed/)
    // Aborted: the source serves the bucket as before, the target forgot it.
    expect(metadata.directory().shardOf[bucket]).toBe(source)
    expect(await stateOf((await metadata.shard(source)).db, bucket)).toBe('owned')
    expect(await stateOf(targetDb, bucket)).toBeNull()
  })
})
