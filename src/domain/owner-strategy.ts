import { BUCKET_COUNT, bucketOf } from './bucket.js'

/**
 * Strategies decide owner → bucket (docs/sharding.md); bucket → shard is always the directory. So a
 * range or a pinned owner is still made of whole buckets, and resharding moves buckets the same
 * way whatever the strategy.
 */
export type StrategyConfig =
  | { kind: 'hash' }
  // Ordered split points, upper-exclusive: k-1 points → k ranges.
  | { kind: 'range'; splits: readonly string[] }
  | { kind: 'directory' }

export interface OwnerStrategy {
  readonly kind: StrategyConfig['kind']
  bucketOf(ownerId: string): number
}

/** placements: explicit owner → bucket (directory strategy); ignored by the others. */
export function createOwnerStrategy(
  config: StrategyConfig,
  placements?: ReadonlyMap<string, number>,
): OwnerStrategy {
  switch (config.kind) {
    case 'hash':
      return { kind: 'hash', bucketOf }
    case 'range':
      return { kind: 'range', bucketOf: rangeBucketOf(config.splits) }
    case 'directory':
      return { kind: 'directory', bucketOf: directoryBucketOf(placements ?? new Map()) }
  }
}

/** Throws unless the split points are strings, strictly increasing, and make at most 4096 ranges. */
export function validateRangeSplits(splits: readonly string[]): void {
  if (splits.length > BUCKET_COUNT - 1) {
    const limit = `${BUCKET_COUNT} ranges (${BUCKET_COUNT - 1} split points)`
    throw new Error(`At most ${limit}, got ${splits.length} split points`)
  }
  // Config may come from JSON: a number here would otherwise compare in surprising ways.
  const bad = splits.find((split) => typeof split !== 'string')
  if (bad !== undefined)
    throw new Error(`Range split points must be strings, got ${JSON.stringify(bad)}`)
  const numeric = isNumeric(splits)
  const points = numeric ? splits.map((split) => BigInt(split)) : splits
  for (let i = 1; i < points.length; i++) {
    if (compare(points[i - 1]!, points[i]!) >= 0) {
      const order = numeric ? 'as integers' : 'in code point order'
      throw new Error(
        `Range split points must be strictly increasing (${order}), ` +
          `but ${JSON.stringify(splits[i - 1])} is followed by ${JSON.stringify(splits[i])}`,
      )
    }
  }
}

// Digits only: BigInt() alone would also accept ' 12', '0x1f' and '', which are not owner numbers.
const DECIMAL_INTEGER = /^-?[0-9]+$/

const isNumeric = (splits: readonly string[]) =>
  splits.length > 0 && splits.every((split) => DECIMAL_INTEGER.test(split))

/** a < b → negative, a > b → positive: numbers as BigInt, strings by code point. */
function compare<T extends bigint | string>(a: T, b: T): number {
  if (typeof a === 'string') return compareCodePoints(a, b as string)
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Code point order, not UTF-16 order (`<`) and not locale order: it equals UTF-8 byte order, so
 * it never depends on the runtime's ICU data and agrees with a database's binary (C) collation.
 * `<` would put U+FF5E after '😀', because surrogates (D800–DFFF) sort below FF5E.
 */
function compareCodePoints(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x - y
    i += x > 0xffff ? 2 : 1
  }
  return a.length - b.length // one is a prefix of the other
}

/** Number of split points ≤ value: a split point itself opens the upper range. */
function rangeIndex<T extends bigint | string>(splits: readonly T[], value: T): number {
  let low = 0
  let high = splits.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (compare(splits[mid]!, value) <= 0) low = mid + 1
    else high = mid
  }
  return low
}

/**
 * Owner → range index, or undefined for an owner outside the order (a non-number among numeric
 * ranges), which then falls back to the plain hash.
 */
function rangeOf(splits: readonly string[]): (ownerId: string) => number | undefined {
  if (!isNumeric(splits)) return (ownerId) => rangeIndex(splits, ownerId)
  const points = splits.map((split) => BigInt(split)) // parsed once, not per lookup
  return (ownerId) =>
    DECIMAL_INTEGER.test(ownerId) ? rangeIndex(points, BigInt(ownerId)) : undefined
}

function rangeBucketOf(splits: readonly string[]): (ownerId: string) => number {
  validateRangeSplits(splits)
  const range = rangeOf([...splits]) // copied: the config cannot change under the router
  const ranges = splits.length + 1
  return (ownerId) => {
    const index = range(ownerId)
    if (index === undefined) return bucketOf(ownerId)
    const { start, width } = rangeBuckets(index, ranges)
    // Spread the range's owners over its buckets, so a range can later be split by moving buckets.
    return start + (bucketOf(ownerId) % width)
  }
}

/**
 * Range i of k covers buckets [ceil(i·4096/k), ceil((i+1)·4096/k)). Ceil, not floor: the initial
 * layout puts bucket b on shard floor(b·k/4096), whose buckets are exactly that ceil interval, so
 * with k shards range i lands entirely on shard i even when k does not divide 4096.
 */
export function rangeBuckets(index: number, ranges: number): { start: number; width: number } {
  const edge = (i: number) => Math.ceil((i * BUCKET_COUNT) / ranges)
  const start = edge(index)
  return { start, width: edge(index + 1) - start }
}

function directoryBucketOf(placements: ReadonlyMap<string, number>): (ownerId: string) => number {
  for (const [ownerId, bucket] of placements) {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKET_COUNT) {
      const owner = JSON.stringify(ownerId)
      throw new Error(
        `Owner ${owner} is placed in bucket ${bucket}, outside 0..${BUCKET_COUNT - 1}`,
      )
    }
  }
  // Copied, so a later change to the caller's map cannot move an owner behind the router's back.
  const pinned = new Map(placements)
  return (ownerId) => pinned.get(ownerId) ?? bucketOf(ownerId)
}
