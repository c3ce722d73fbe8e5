import { describe, expect, it } from 'vitest'
import { prng, uuidV4 } from '../../test/fixtures/seeded.js'
import { BUCKET_COUNT, bucketOf } from './bucket.js'

// 25 keys per bucket on average: comfortably above the ≥ 5 (we use ≥ 20) that makes the
// chi-square approximation trustworthy, and still only ~100k hashes per key set.
const N = BUCKET_COUNT * 25

/**
 * Upper critical value of chi-square with `df` degrees of freedom, by the Wilson–Hilferty
 * approximation: (χ²/df)^(1/3) is close to normal with mean 1 − 2/(9df) and variance 2/(9df), so
 * χ²_crit ≈ df·(1 − 2/(9df) + z·√(2/(9df)))³. At df = 4095 its error is far below 0.1%.
 */
function chiSquareCritical(df: number, z: number): number {
  const v = 2 / (9 * df)
  return df * (1 - v + z * Math.sqrt(v)) ** 3
}

/** z such that P(Z ≤ z) = 0.999: a false alarm at most once in a thousand key sets. */
const Z_999 = 3.090232
const CRITICAL = chiSquareCritical(BUCKET_COUNT - 1, Z_999)

function chiSquare(keys: readonly string[], bucket: (key: string) => number): number {
  const counts = new Array<number>(BUCKET_COUNT).fill(0)
  for (const key of keys) counts[bucket(key)]!++
  const expected = keys.length / BUCKET_COUNT
  return counts.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0)
}

/** Each key set is built once and shared by the tests that need it (speed, not semantics). */
function once<T>(make: () => T): () => T {
  let value: T | undefined
  return () => (value ??= make())
}

const sequentialIds = once(() => Array.from({ length: N }, (_, i) => String(i + 1)))

const uuids = once(() => {
  const next = prng(0xd15_7)
  return Array.from({ length: N }, () => uuidV4(next))
})

/** Syllables of five scripts, two or three to a name, plus a counter so every name is unique. */
const nonAsciiNames = once(() => {
  const syllables = ['zö', 'ré', 'ña', 'ми', 'ла', 'κα', '東', '京', 'ना', 'سا', 'של', '서', '🙂']
  const next = prng(0xd15_8)
  return Array.from({ length: N }, (_, i) => {
    const parts = Array.from(
      { length: 2 + (next() % 2) },
      () => syllables[next() % syllables.length],
    )
    return `${parts.join('')}${i}`
  })
})

describe('bucketOf distribution over the 4096 buckets (chi-square, p = 0.001)', () => {
  it('uses the right critical value for df = 4095', () => {
    // Exact quantile 4380.371 (scipy chi2.ppf); Wilson–Hilferty gives 4380.379.
    expect(CRITICAL).toBeGreaterThan(4379)
    expect(CRITICAL).toBeLessThan(4382)
  })

  it('is uniform for sequential integer ids', () => {
    expect(chiSquare(sequentialIds(), bucketOf)).toBeLessThan(CRITICAL)
  })

  it('is uniform for UUID v4 strings', () => {
    const keys = uuids()
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(chiSquare(keys, bucketOf)).toBeLessThan(CRITICAL)
  })

  it('is uniform for non-ASCII names', () => {
    expect(chiSquare(nonAsciiNames(), bucketOf)).toBeLessThan(CRITICAL)
  })

  it('rejects a bad bucket function, so the check can fail', () => {
    const firstCharCode = (key: string) => key.charCodeAt(0) % BUCKET_COUNT
    expect(chiSquare(sequentialIds(), firstCharCode)).toBeGreaterThan(CRITICAL)
    expect(chiSquare(uuids(), firstCharCode)).toBeGreaterThan(CRITICAL)
    expect(chiSquare(nonAsciiNames(), firstCharCode)).toBeGreaterThan(CRITICAL)
    // Subtler: a good hash that only ever reaches half the buckets.
    expect(chiSquare(uuids(), (key) => bucketOf(key) & ~1)).toBeGreaterThan(CRITICAL)
  })
})
