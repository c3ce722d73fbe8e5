import { BUCKET_COUNT } from '../domain/bucket.js'
import type { BucketMoveRow } from '../metadata/control-db.js'
import { redact } from '../metadata/shard-set.js'
import type { ShardedMetadata, ShardReport } from '../metadata/sharded-metadata.js'
import { LeaseHeld, withMoverLease } from './lease.js'
import { createMover, type MoverOptions } from './mover.js'
import type { BucketMove } from './rebalance-plan.js'

/**
 * The operator's shard operations, as data: the command line (and later an admin API) prints or
 * serves what these return. Each refuses with an OperationRefused that says why in plain words.
 */
export class OperationRefused extends Error {
  override name = 'OperationRefused'
}

export interface ShardStatus {
  epoch: number
  strategy: ReturnType<ShardedMetadata['directory']>['strategy']
  shards: (ShardReport & { buckets: number })[]
  /** Moves not done yet: running, interrupted (resumed by the next rebalance) or failed. */
  moves: BucketMoveRow[]
}

export async function shardStatus(metadata: ShardedMetadata): Promise<ShardStatus> {
  const directory = await metadata.refresh()
  const [reports, moves] = await Promise.all([
    metadata.stats(),
    metadata.directoryStore.moves.list(),
  ])
  const buckets = new Map<number, number>()
  for (const shard of directory.shardOf) buckets.set(shard, (buckets.get(shard) ?? 0) + 1)
  return {
    epoch: directory.epoch,
    strategy: directory.strategy,
    shards: reports.map((r) => ({ ...r, url: redact(r.url), buckets: buckets.get(r.id) ?? 0 })),
    moves: moves.filter((m) => m.phase !== 'done'),
  }
}

export interface RebalancePlan {
  /** The moves this run will make (the full plan cut to maxMoves). */
  moves: BucketMove[]
  /** Moves in the full plan. */
  total: number
  /** Moves left by an earlier run; they are resumed first. */
  unfinished: number
  run(): Promise<BucketMoveRow[]>
}

/** Plans a rebalance onto every registered shard; nothing moves until `run()`. */
export async function planRebalance(
  metadata: ShardedMetadata,
  options: { maxMoves?: number; parallel?: number; onPhase?: MoverOptions['onPhase'] },
): Promise<RebalancePlan> {
  const mover = createMover({ metadata, parallel: options.parallel, onPhase: options.onPhase })
  const full = await mover.plan()
  const moves = options.maxMoves === undefined ? full : full.slice(0, options.maxMoves)
  const unfinished = (await metadata.directoryStore.moves.list()).filter(
    (m) => m.phase !== 'done' && m.phase !== 'failed',
  ).length
  const run = () => refusedIfHeld(() => withMoverLease(metadata, () => mover.run(moves)))
  return { moves, total: full.length, unfinished, run }
}

export interface OwnerMove {
  bucket: number
  source: number
  target: number
  /** Other owners in the same bucket: a bucket is the unit of placement, so they travel along. */
  neighbours: string[]
  run(): Promise<BucketMoveRow>
}

/** Plans moving an owner's bucket to a shard; null when it is already there. */
export async function planOwnerMove(
  metadata: ShardedMetadata,
  ownerId: string,
  target: number,
): Promise<OwnerMove | null> {
  const directory = await metadata.refresh()
  if (!directory.shards.has(target)) {
    const registered = [...directory.shards.keys()].join(', ')
    throw new OperationRefused(`No shard ${target}; registered: ${registered}`)
  }
  const bucket = metadata.bucketOfOwner(ownerId)
  const source = directory.shardOf[bucket] as number
  if (source === target) return null
  const neighbours = (await ownersOfBucket(metadata, source, bucket)).filter((o) => o !== ownerId)
  const run = async () => {
    const moved = await refusedIfHeld(() =>
      withMoverLease(metadata, () => createMover({ metadata }).moveBucket(bucket, target)),
    )
    if (moved?.phase !== 'done') {
      throw new OperationRefused(`The move failed: ${moved?.detail ?? 'unknown'}`)
    }
    return moved
  }
  return { bucket, source, target, neighbours, run }
}

/** Directory strategy: puts a new owner in a chosen bucket; returns the shard that holds it. */
export async function placeOwner(
  metadata: ShardedMetadata,
  ownerId: string,
  bucket: number,
): Promise<number> {
  const directory = await metadata.refresh()
  if (directory.strategy.kind !== 'directory') {
    throw new OperationRefused(
      `Placements need PIXELFLOW_SHARD_STRATEGY=directory (this deployment uses ${directory.strategy.kind})`,
    )
  }
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKET_COUNT) {
    throw new OperationRefused(`A bucket is 0..${BUCKET_COUNT - 1}`)
  }
  // Images already stored carry their bucket in their ids: placing the owner elsewhere would orphan them.
  if ((await metadata.forOwner(ownerId).listImages(ownerId, 1)).length > 0) {
    throw new OperationRefused(
      `Owner ${ownerId} already has images in bucket ${metadata.bucketOfOwner(ownerId)}; move that bucket instead (shards move)`,
    )
  }
  await metadata.directoryStore.place(ownerId, bucket)
  return directory.shardOf[bucket] as number
}

/** Another mover holds the lease: the operator is told so, as any refused operation. */
async function refusedIfHeld<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof LeaseHeld) throw new OperationRefused(error.message)
    throw error
  }
}

async function ownersOfBucket(
  metadata: ShardedMetadata,
  shardId: number,
  bucket: number,
): Promise<string[]> {
  const shard = await metadata.shard(shardId)
  const rows = await shard.db
    .selectFrom('images')
    .select('owner_id')
    .distinct()
    .where('bucket', '=', bucket)
    .limit(1000)
    .execute()
  return rows.map((r) => r.owner_id)
}
