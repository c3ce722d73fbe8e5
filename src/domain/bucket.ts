import xxhash from 'xxhash-wasm'

/** 4096 logical buckets, fixed forever: the bucket is stored on rows and embedded in ids. */
export const BUCKET_BITS = 12
export const BUCKET_COUNT = 1 << BUCKET_BITS

// Top-level await: the WASM module instantiates once per process, then hashing is synchronous.
const { h64Raw } = await xxhash()
const encoder = new TextEncoder()

/**
 * owner id → bucket: xxHash64 (seed 0) of the UTF-8 bytes, top 12 bits. This is a data format:
 * changing it moves every owner, so bucket.test.ts pins it with golden vectors.
 */
export function bucketOf(ownerId: string): number {
  const hash = h64Raw(encoder.encode(ownerId), 0n)
  return Number(hash >> BigInt(64 - BUCKET_BITS))
}

/** The contiguous initial layout: bucket b → shardIds[floor(b * n / 4096)]. */
export function initialLayout(shardIds: readonly number[]): number[] {
  assertShardIds(shardIds)
  const n = shardIds.length
  // Same formula as the shard router's derived layout, so the two always agree.
  return Array.from(
    { length: BUCKET_COUNT },
    (_, b) => shardIds[Math.floor((b * n) / BUCKET_COUNT)]!,
  )
}

/** Shard ids are distinct safe integers, at least one and at most one per bucket. */
export function assertShardIds(shardIds: readonly number[]): void {
  if (shardIds.length === 0) throw new Error('At least one shard id is required')
  if (shardIds.length > BUCKET_COUNT) {
    throw new Error(`At most ${BUCKET_COUNT} shards (one bucket each), got ${shardIds.length}`)
  }
  const seen = new Set<number>()
  for (const id of shardIds) {
    if (!Number.isSafeInteger(id)) throw new Error(`Shard ids must be integers, got ${id}`)
    if (seen.has(id)) throw new Error(`Duplicate shard id ${id}`)
    seen.add(id)
  }
}
