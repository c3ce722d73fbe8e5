import type { Kysely } from 'kysely'
import type { BucketMoveRow, MovePhase } from '../metadata/control-db.js'
import type { MetadataDb } from '../metadata/db.js'
import { setState, stateOf } from '../metadata/ownership.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { digestBucket, digestOf, hashBucket, type ImageHashes, rehash } from './bucket-digest.js'
import { applyChanges, deleteBucketRows, nextIds, replaceImages } from './bucket-transfer.js'
import { type BucketMove, planRebalance } from './rebalance-plan.js'

/**
 * Online bucket moves. Each move runs these phases in order, persisting the next one in the
 * control database before running it, so a mover killed anywhere resumes where it stopped:
 *
 *   capture  target marks the bucket incoming; source starts logging changed image ids
 *   copy     image rows and variants in id-ordered chunks (the cursor is persisted)
 *   catchup  replay the change log until it is nearly empty, then hash every image on both sides
 *   fence    source refuses writes to the bucket (waits for writes in flight); reads go on
 *   verify   replay the rest of the log, hash the images it replayed again, then compare count
 *            and checksum of both sides
 *   switch   target owns the bucket, source lets it go, directory points to the target (epoch + 1)
 *   cleanup  delete the bucket's rows from the source
 *
 * The comparison runs under the fence: before it, concurrent writers make any comparison race.
 * What it compares is mostly hashed before it, though: every write the source took since the
 * catch-up's hashes is in the change log, so under the fence only the images replayed from it are
 * read again. A mover resumed after a crash has no hashes in memory and reads both sides whole.
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

type Db = Kysely<MetadataDb>

/** A phase's outcome: the phase to run next, and fields of the move's row to record with it. */
interface Step {
  next: MovePhase
  changes?: Partial<Pick<BucketMoveRow, 'changes_applied' | 'fenced_at'>>
  /** The row as the phase itself already recorded it, `next` included: nothing left to write. */
  recorded?: BucketMoveRow
}

/** Catch-up stops when a round replays fewer log rows than this; the rest is drained under the fence. */
const QUIET_BACKLOG = 20
const MAX_CATCHUP_ROUNDS = 50
/** A larger bucket is compared whole under the fence rather than held as per-image hashes. */
const MAX_HASHED_IMAGES = 100_000

export function createMover(options: MoverOptions) {
  const { metadata } = options
  const moves = metadata.directoryStore.moves
  // At least one row: the replay under the fence stops at its first round shorter than a chunk.
  const chunk = Math.max(1, options.chunkSize ?? 500)
  /** Per bucket being moved by this process: both sides' image hashes as the catch-up left them. */
  const hashed = new Map<number, { source: ImageHashes; target: ImageHashes }>()

  /**
   * Runs a move's current phase; returns the next one with what to record beside it. Both are
   * written in one statement: fence to cleanup is the bucket's write pause, and each round trip
   * to the control database under load is part of it.
   */
  async function runPhase(move: BucketMoveRow): Promise<Step> {
    const source = (await metadata.shard(move.source)).db
    const target = (await metadata.shard(move.target)).db
    const { bucket } = move
    switch (move.phase) {
      case 'capture':
        // Leftovers of an earlier aborted move to this target would otherwise survive the copy.
        await setState(target, bucket, 'incoming')
        await deleteBucketRows(target, bucket)
        await setState(source, bucket, 'capturing')
        return { next: 'copy' }
      case 'copy':
        for (let cursor = move.copy_cursor, copied = move.rows_copied, step = 1; ; step++) {
          const ids = await nextIds(source, bucket, cursor, chunk)
          if (ids.length === 0) return { next: 'catchup' }
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
        hashed.delete(bucket)
        const [sourceHashes, targetHashes] = await Promise.all([
          hashBucket(source, bucket, MAX_HASHED_IMAGES),
          hashBucket(target, bucket, MAX_HASHED_IMAGES),
        ])
        if (sourceHashes && targetHashes)
          hashed.set(bucket, { source: sourceHashes, target: targetHashes })
        return { next: 'fence', changes: { changes_applied: applied } }
      }
      case 'fence':
        await setState(source, bucket, 'fenced')
        return { next: 'verify', changes: { fenced_at: Date.now() } }
      case 'verify': {
        let applied = move.changes_applied
        // Taken out first: a verify that fails half-way has replayed ids no later attempt would
        // know of, so a retry must read both sides whole.
        const before = hashed.get(bucket)
        hashed.delete(bucket)
        const replayed = new Set<string>()
        // The fence waited for the writes in flight and refuses new ones, so the log only shrinks:
        // a round that read less than a chunk drained it, and no empty round is paid to learn so.
        for (let n = chunk; n === chunk; applied += n)
          n = await applyChanges(source, target, bucket, chunk, replayed)
        const [a, b] = await compare(source, target, bucket, before, [...replayed])
        if (a.sha256 !== b.sha256 || a.images !== b.images || a.variants !== b.variants) {
          await abort(
            move,
            `verify failed: source ${JSON.stringify(a)}, target ${JSON.stringify(b)}`,
          )
          return { next: 'failed' }
        }
        return { next: 'switch', changes: { changes_applied: applied } }
      }
      case 'switch': {
        // Source released before the directory moves: a fenced source still serves reads, and a
        // stale router reading there after the target took a write would see the past. Between
        // the two steps requests wait (refused, same epoch) for the switch. The target takes the
        // bucket before the source lets go, one after the other: listings across shards count on
        // some shard always serving every bucket (sharded-metadata.ts, listAll), and a target
        // that cannot be written must leave the source serving reads, not neither of them.
        await setState(target, bucket, 'owned')
        await setState(source, bucket, null)
        // The directory's transaction records the next phase too: one commit fewer in the pause.
        const recorded = await metadata.directoryStore.switchBucket(
          bucket,
          move.source,
          move.target,
          'cleanup',
        )
        return { next: 'cleanup', recorded: switched(recorded, move) }
      }
      case 'cleanup':
        await deleteBucketRows(source, bucket)
        return { next: 'done' }
      default:
        return { next: move.phase }
    }
  }

  /** The switch's recorded row; a bucket that is on neither side of its move stops the move. */
  function switched(row: BucketMoveRow | null, move: BucketMoveRow): BucketMoveRow {
    if (!row)
      throw new Error(
        `Bucket ${move.bucket} is on neither shard ${move.source} nor shard ${move.target} in the directory: not switched`,
      )
    return row
  }

  /** Count and checksum of both sides, from the catch-up's hashes when this process has them. */
  async function compare(
    source: Db,
    target: Db,
    bucket: number,
    before: { source: ImageHashes; target: ImageHashes } | undefined,
    replayed: string[],
  ) {
    if (!before) return Promise.all([digestBucket(source, bucket), digestBucket(target, bucket)])
    await Promise.all([
      rehash(source, before.source, replayed),
      rehash(target, before.target, replayed),
    ])
    return [digestOf(before.source), digestOf(before.target)] as const
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
      const { next, changes, recorded } = await runPhase(move)
      // A failed move was recorded by abort, a switch by the directory's transaction; the others
      // record the next phase with their changes.
      const row =
        recorded ??
        (next === 'failed'
          ? await moves.get(move.bucket)
          : await moves.update(move.bucket, { ...changes, phase: next }))
      move = row as BucketMoveRow
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
