import type { BucketMoveRow, MovePhase } from '../metadata/control-db.js'
import { setState, stateOf } from '../metadata/ownership.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import {
  applyChanges,
  deleteBucketRows,
  digestBucket,
  nextIds,
  replaceImages,
} from './bucket-transfer.js'
import { type BucketMove, planRebalance } from './rebalance-plan.js'

/**
 * Online bucket moves. Each move runs these phases in order, persisting the next one in the
 * control database before running it, so a mover killed anywhere resumes where it stopped:
 *
 *   capture  target marks the bucket incoming; source starts logging changed image ids
 *   copy     image rows and variants in id-ordered chunks (the cursor is persisted)
 *   catchup  replay the change log until it is nearly empty
 *   fence    source refuses writes to the bucket (waits for writes in flight); reads go on
 *   verify   replay the rest of the log, then compare count and checksum of both sides
 *   switch   target owns the bucket, source lets it go, directory points to the target (epoch + 1)
 *   cleanup  delete the bucket's rows from the source
 *
 * Verification runs under the fence: before it, concurrent writers make any comparison race.
 */
export const PHASES: readonly MovePhase[] = [
  'capture',
  'copy',
  'catchup',
  'fence',
  'verify',
  'switch',
  'cleanup',
]

export interface MoverOptions {
  metadata: ShardedMetadata
  /** Image rows per copy chunk and per change-log batch. */
  chunkSize?: number
  /**
   * Called as each phase begins (step 0) and after each copied chunk (step 1, 2, …): progress
   * output, and the points where fault tests kill the process.
   */
  onPhase?: (move: BucketMoveRow, phase: MovePhase, step: number) => void | Promise<void>
  /** Moves run at once; each bucket's steps stay in order. */
  parallel?: number
}

/** Catch-up stops when a round replays fewer log rows than this; the rest is drained under the fence. */
const QUIET_BACKLOG = 20
const MAX_CATCHUP_ROUNDS = 50

export function createMover(options: MoverOptions) {
  const { metadata } = options
  const moves = metadata.directoryStore.moves
  const chunk = options.chunkSize ?? 500

  async function runPhase(move: BucketMoveRow): Promise<MovePhase> {
    const source = (await metadata.shard(move.source)).db
    const target = (await metadata.shard(move.target)).db
    const { bucket } = move
    switch (move.phase) {
      case 'capture':
        // Leftovers of an earlier aborted move to this target would otherwise survive the copy.
        await setState(target, bucket, 'incoming')
        await deleteBucketRows(target, bucket)
        await setState(source, bucket, 'capturing')
        return 'copy'
      case 'copy':
        for (let cursor = move.copy_cursor, copied = move.rows_copied, step = 1; ; step++) {
          const ids = await nextIds(source, bucket, cursor, chunk)
          if (ids.length === 0) return 'catchup'
          await replaceImages(source, target, ids)
          cursor = ids.at(-1) as string
          copied += ids.length
          await moves.update(bucket, { copy_cursor: cursor, rows_copied: copied })
          await options.onPhase?.(move, 'copy', step)
        }
      case 'catchup': {
        let applied = move.changes_applied
        for (let round = 0; round < MAX_CATCHUP_ROUNDS; round++) {
          const n = await applyChanges(source, target, bucket, chunk)
          applied += n
          if (n < QUIET_BACKLOG) break
        }
        await moves.update(bucket, { changes_applied: applied })
        return 'fence'
      }
      case 'fence':
        await setState(source, bucket, 'fenced')
        await moves.update(bucket, { fenced_at: Date.now() })
        return 'verify'
      case 'verify': {
        let applied = move.changes_applied
        for (let n = -1; n !== 0; applied += n)
          n = await applyChanges(source, target, bucket, chunk)
        const [a, b] = await Promise.all([
          digestBucket(source, bucket),
          digestBucket(target, bucket),
        ])
        await moves.update(bucket, { changes_applied: applied })
        if (a.sha256 !== b.sha256 || a.images !== b.images || a.variants !== b.variants) {
          await abort(
            move,
            `verify failed: source ${JSON.stringify(a)}, target ${JSON.stringify(b)}`,
          )
          return 'failed'
        }
        return 'switch'
      }
      case 'switch':
        // Source released before the directory moves: a fenced source still serves reads, and a
        // stale router reading there after the target took a write would see the past. Between
        // the two steps requests wait (refused, same epoch) for the switch.
        await setState(target, bucket, 'owned')
        await setState(source, bucket, null)
        await metadata.directoryStore.switchBucket(bucket, move.source, move.target)
        return 'cleanup'
      case 'cleanup':
        await deleteBucketRows(source, bucket)
        return 'done'
      default:
        return move.phase
    }
  }

  /** Undoes a move that cannot finish: the source serves the bucket as before, the target forgets it. */
  async function abort(move: BucketMoveRow, detail: string): Promise<void> {
    const source = (await metadata.shard(move.source)).db
    const target = (await metadata.shard(move.target)).db
    if ((await stateOf(source, move.bucket)) !== null) await setState(source, move.bucket, 'owned')
    await setState(target, move.bucket, null)
    await deleteBucketRows(target, move.bucket)
    await moves.update(move.bucket, { phase: 'failed', detail })
  }

  /** Runs one move from its persisted phase to the end. */
  async function finish(start: BucketMoveRow): Promise<BucketMoveRow> {
    let move = start
    while (move.phase !== 'done' && move.phase !== 'failed') {
      await options.onPhase?.(move, move.phase, 0)
      const next = await runPhase(move)
      if (next !== 'failed') await moves.update(move.bucket, { phase: next })
      move = (await moves.get(move.bucket)) as BucketMoveRow
    }
    return move
  }

  /** Starts a move (or resumes the unfinished one of that bucket); null when it is already there. */
  async function moveBucket(bucket: number, target: number): Promise<BucketMoveRow | null> {
    const existing = await moves.get(bucket)
    if (existing && existing.phase !== 'done' && existing.phase !== 'failed') {
      if (existing.target !== target)
        throw new Error(`Bucket ${bucket} is already moving to shard ${existing.target}`)
      const resumed = await finish(existing)
      await metadata.refresh()
      return resumed
    }
    const directory = await metadata.refresh()
    const source = directory.shardOf[bucket] as number
    if (source === target) return null
    if (!directory.shards.has(target)) throw new Error(`Shard ${target} is not registered`)
    const done = await finish(await moves.plan(bucket, source, target))
    await metadata.refresh()
    return done
  }

  /** Unfinished moves first (a previous mover crashed), then `planned`; `parallel` at a time. */
  async function run(planned: readonly BucketMove[]): Promise<BucketMoveRow[]> {
    const unfinished = (await moves.list()).filter(
      (m) => m.phase !== 'done' && m.phase !== 'failed',
    )
    const queue: BucketMove[] = [
      ...unfinished.map((m) => ({ bucket: m.bucket, from: m.source, to: m.target })),
      ...planned.filter((p) => !unfinished.some((m) => m.bucket === p.bucket)),
    ]
    const results: BucketMoveRow[] = []
    const lanes = Array.from({ length: Math.max(1, options.parallel ?? 4) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const done = await moveBucket(next.bucket, next.to)
        if (done) results.push(done)
      }
    })
    await Promise.all(lanes)
    await metadata.refresh()
    return results
  }

  return {
    moveBucket,
    run,
    /** The moves that would bring every registered shard to an even share of the buckets. */
    async plan(): Promise<BucketMove[]> {
      const directory = await metadata.refresh()
      return planRebalance(directory.shardOf, [...directory.shards.keys()])
    },
  }
}
