import { assertShardIds, BUCKET_COUNT } from '../domain/bucket.js'

/**
 * Pure planning for resharding (docs/architecture.md, sharding): buckets move whole, only from shards above their
 * share to shards below it, so adding a shard moves about 1/(n+1) of the data and nothing moves
 * between the old shards. Executing a plan (copy, verify, fence, switch) lives elsewhere.
 */
export interface BucketMove {
  bucket: number
  from: number
  to: number
}

/**
 * directory[b] = shard id owning bucket b (length 4096 = BUCKET_COUNT from ./bucket.js).
 * shardIds = every shard that should hold buckets afterwards (existing + new).
 * Returns the fewest moves that leave every shard with floor(4096/n) or ceil(4096/n) buckets;
 * buckets only leave shards above their target and only go to shards below it, so nothing
 * moves between shards that were already balanced. Deterministic (same input → same plan).
 */
export function planRebalance(
  directory: ArrayLike<number>,
  shardIds: readonly number[],
): BucketMove[] {
  assertShardIds(shardIds)
  checkDirectory(directory)
  // Sorted ids: the plan depends on the set of shards, not on the order they were listed in.
  const ids = [...shardIds].sort((a, b) => a - b)
  const owned = bucketsByShard(directory, ids)
  const targets = chooseTargets(ids, owned)
  const leaving = leavingBuckets(directory, ids, owned, targets)
  return assignToReceivers(directory, leaving, ids, owned, targets)
}

/** Applies moves to a copy of the directory. */
export function applyMoves(directory: ArrayLike<number>, moves: readonly BucketMove[]): number[] {
  checkDirectory(directory)
  const next = Array.from(directory)
  for (const { bucket, from, to } of moves) {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKET_COUNT) {
      throw new Error(`Move names bucket ${bucket}, outside 0..${BUCKET_COUNT - 1}`)
    }
    // A plan made for another version of the directory must not be half-applied silently.
    if (next[bucket] !== from) {
      throw new Error(
        `Move of bucket ${bucket} expects shard ${from}, but the directory says ${next[bucket]}`,
      )
    }
    next[bucket] = to
  }
  return next
}

function checkDirectory(directory: ArrayLike<number>): void {
  if (directory.length !== BUCKET_COUNT) {
    throw new Error(`A directory maps all ${BUCKET_COUNT} buckets, got ${directory.length}`)
  }
}

/** Buckets per listed shard, ascending. Buckets of unlisted shards are in none of them. */
function bucketsByShard(
  directory: ArrayLike<number>,
  ids: readonly number[],
): Map<number, number[]> {
  const owned = new Map(ids.map((id) => [id, [] as number[]]))
  for (let b = 0; b < BUCKET_COUNT; b++) owned.get(directory[b]!)?.push(b)
  return owned
}

/**
 * floor(4096/n) for every shard, +1 for 4096 mod n of them. The +1 goes to the shards that
 * already hold the most: there it costs no move, while on a short shard it would cost one.
 */
function chooseTargets(ids: readonly number[], owned: Map<number, number[]>): Map<number, number> {
  const base = Math.floor(BUCKET_COUNT / ids.length)
  const extra = BUCKET_COUNT % ids.length
  const fullest = [...ids].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || a - b)
  return new Map(fullest.map((id, rank) => [id, base + (rank < extra ? 1 : 0)]))
}

/** Every bucket of an unlisted shard (a drain), plus each over-full shard's highest buckets. */
function leavingBuckets(
  directory: ArrayLike<number>,
  ids: readonly number[],
  owned: Map<number, number[]>,
  targets: Map<number, number>,
): number[] {
  const leaving: number[] = []
  for (let b = 0; b < BUCKET_COUNT; b++) if (!owned.has(directory[b]!)) leaving.push(b)
  for (const id of ids) leaving.push(...owned.get(id)!.slice(targets.get(id)!))
  // Ascending, so each receiver gets runs of neighbouring buckets rather than a scatter.
  return leaving.sort((a, b) => a - b)
}

/** Fills the under-full shards, lowest id first, from the ascending list of leaving buckets. */
function assignToReceivers(
  directory: ArrayLike<number>,
  leaving: readonly number[],
  ids: readonly number[],
  owned: Map<number, number[]>,
  targets: Map<number, number>,
): BucketMove[] {
  const receivers = ids.flatMap((id) => {
    const deficit = targets.get(id)! - owned.get(id)!.length
    return deficit > 0 ? new Array<number>(deficit).fill(id) : []
  })
  // Total surplus equals total deficit: both are 4096 minus what stays put.
  return leaving.map((bucket, i) => ({ bucket, from: directory[bucket]!, to: receivers[i]! }))
}
