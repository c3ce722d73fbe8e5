import { afterEach, describe, expect, it, vi } from 'vitest'
import type { BucketMoveRow } from '../../src/metadata/control-db.js'
import { createMover } from '../../src/sharding/mover.js'
import { insertImage } from '../fixtures/image-rows.js'
import {
  bucketToMove,
  createMetadataEnv,
  METADATA_DIALECTS,
  type MetadataEnv,
} from '../fixtures/metadata-env.js'

// The replays under the fence are counted where the mover calls them; each runs the real one.
const replays = vi.hoisted(() => ({ phase: '', verify: [] as number[] }))
vi.mock('../../src/sharding/bucket-transfer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/sharding/bucket-transfer.js')>()
  return {
    ...real,
    applyChanges: async (...args: Parameters<typeof real.applyChanges>) => {
      const applied = await real.applyChanges(...args)
      if (replays.phase === 'verify') replays.verify.push(applied)
      return applied
    },
  }
})

/**
 * The bucket's write pause (fence → cleanup) is a chain of round trips, so the verify under the
 * fence replays the change log in as few as it can: the fence refuses new writes, so a round that
 * read less than a chunk has drained the log, and no empty round follows it.
 */
describe.each(METADATA_DIALECTS)('the rounds of replay under the fence (%s)', (dialect) => {
  let env: MetadataEnv | undefined
  afterEach(async () => {
    await env?.cleanup()
    env = undefined
    replays.verify = []
  })

  /** A move of one owner's bucket with `late` writes to its images after the catch-up. */
  async function moveWithLateWrites(late: number, chunkSize: number) {
    env = await createMetadataEnv(dialect, 2, 0)
    const { metadata } = await env.open()
    const owner = `fence-rounds-${late}`
    const { bucket, target } = await bucketToMove(metadata, owner)
    const images: Awaited<ReturnType<typeof insertImage>>[] = []
    for (let i = 0; i < late; i++) images.push(await insertImage(metadata, owner))
    const mover = createMover({
      metadata,
      chunkSize,
      async onPhase(_move: BucketMoveRow, phase, step) {
        if (step === 0) replays.phase = phase
        if (phase !== 'fence') return
        // The catch-up is over; these writes are logged and replayed under the fence.
        for (const image of images)
          await metadata.forImageId(image.id)!.startProcessing(image.id, Date.now())
      },
    })
    const done = await mover.moveBucket(bucket, target)
    expect(done?.phase).toBe('done')
    expect(metadata.directory().shardOf[bucket]).toBe(target)
    for (const image of images)
      expect((await metadata.forImageId(image.id)!.getImage(image.id))?.attempts).toBe(1)
    return replays.verify
  }

  it('drains a log shorter than a chunk in one round', async () => {
    expect(await moveWithLateWrites(3, 10)).toEqual([3])
  })

  it('pages through a longer log and stops at the first short round', async () => {
    expect(await moveWithLateWrites(5, 2)).toEqual([2, 2, 1])
  })

  it('reads once more only when the last round was a full chunk', async () => {
    expect(await moveWithLateWrites(4, 2)).toEqual([2, 2, 0])
  })
})
