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
