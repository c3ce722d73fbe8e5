import { BUCKET_COUNT, bucketOf } from './bucket.js'

/**
 * Pure routing: owner → bucket (bucket.ts) → shard. The bucket → shard map is a directory:
 * with n shards the initial layout gives each shard one contiguous run of buckets, so a later
 * reshard moves whole buckets. The versioned, persisted directory and resharding come with the
 * sharding issue; until then the layout is derived from the shard count, which each shard
 * records so a changed count is refused instead of misrouting rows.
 */
export interface ShardRouter {
  readonly shardCount: number
  shardOfBucket(bucket: number): number
  bucketOfOwner(ownerId: string): number
}

export function createShardRouter(shardCount: number): ShardRouter {
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > BUCKET_COUNT) {
    throw new Error(`Shard count must be 1..${BUCKET_COUNT}, got ${shardCount}`)
  }
  return {
    shardCount,
    shardOfBucket: (bucket) => Math.floor((bucket * shardCount) / BUCKET_COUNT),
    bucketOfOwner: bucketOf,
  }
}
