import { describe, expect, it } from 'vitest'
import { initialLayout } from '../domain/bucket.js'
import { BUCKET_COUNT, bucketOf } from './bucket.js'
import { createOwnerStrategy, rangeBuckets, validateRangeSplits } from './owner-strategy.js'

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

/** Range index of a bucket, given the buckets each of `k` ranges covers. */
function rangeOfBucket(bucket: number, k: number): number {
  return range(0, k).find((i) => {
    const { start, width } = rangeBuckets(i, k)
    return bucket >= start && bucket < start + width
  })!
}

describe('hash strategy', () => {
  it('is the plain bucket of the owner', () => {
    const strategy = createOwnerStrategy({ kind: 'hash' })
    expect(strategy.kind).toBe('hash')
    for (const owner of ['', 'alice', '42', '東京'])
      expect(strategy.bucketOf(owner)).toBe(bucketOf(owner))
  })
})

describe('range strategy, numeric split points', () => {
  // "users 1–1000 on shard A": three ranges, (-∞, 1001), [1001, 2001), [2001, ∞).
  const strategy = createOwnerStrategy({ kind: 'range', splits: ['1001', '2001'] })
  const rangeOf = (owner: string) => rangeOfBucket(strategy.bucketOf(owner), 3)

  it('puts owners in their range, compared as numbers, not as text', () => {
    expect(strategy.kind).toBe('range')
    expect(['1', '2', '999', '1000'].map(rangeOf)).toEqual([0, 0, 0, 0])
    expect(['1001', '1500', '2000'].map(rangeOf)).toEqual([1, 1, 1])
    expect(['2001', '10000', '99999999999999999999999'].map(rangeOf)).toEqual([2, 2, 2])
    // As text '9' > '2001'; as numbers 9 < 1001.
    expect(rangeOf('9')).toBe(0)
    expect(rangeOf('-5')).toBe(0)
  })

  it('sends a split point itself to the upper range', () => {
    expect([rangeOf('1000'), rangeOf('1001')]).toEqual([0, 1])
    expect([rangeOf('2000'), rangeOf('2001')]).toEqual([1, 2])
  })

  it('compares beyond 2^53 exactly and handles negative split points', () => {
    const big = createOwnerStrategy({ kind: 'range', splits: ['9007199254740993'] }) // 2^53 + 1
    expect(rangeOfBucket(big.bucketOf('9007199254740992'), 2)).toBe(0)
    expect(rangeOfBucket(big.bucketOf('9007199254740993'), 2)).toBe(1)
    const negative = createOwnerStrategy({ kind: 'range', splits: ['-100', '0'] })
    expect(
      ['-101', '-100', '-1', '0', '5'].map((owner) => rangeOfBucket(negative.bucketOf(owner), 3)),
    ).toEqual([0, 1, 1, 2, 2])
  })

  it('falls back to the plain hash for an owner id that is not a decimal integer', () => {
    for (const owner of ['alice', '', ' 12', '12 ', '0x1f', '1e3', '1.5', '+7', '١٢٣']) {
      expect(strategy.bucketOf(owner), JSON.stringify(owner)).toBe(bucketOf(owner))
    }
  })

  it('spreads one range over all of its buckets, so it can be split later', () => {
    const halves = createOwnerStrategy({ kind: 'range', splits: ['20001'] }) // range 0 = buckets 0..2047
    const buckets = new Set(range(1, 20_001).map((i) => halves.bucketOf(String(i))))
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...buckets)).toBeLessThan(2048)
    expect(buckets.size).toBeGreaterThan(2000) // 20,000 owners over 2048 buckets: nearly all used
  })
})

describe('range strategy, lexical split points', () => {
  const strategy = createOwnerStrategy({ kind: 'range', splits: ['g', 'n', 't'] })
  const rangeOf = (owner: string) => rangeOfBucket(strategy.bucketOf(owner), 4)

  it('orders owners by code point, with split points opening the upper range', () => {
    expect(
      ['alice', 'f', 'fzzz', 'g', 'george', 'mallory', 'n', 'sybil', 't', 'zoe'].map(rangeOf),
    ).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
  })

  it('is code point order, not locale order: upper case and digits sort before lower case', () => {
    expect(['Zed', 'ALICE', '123', ''].map(rangeOf)).toEqual([0, 0, 0, 0])
    expect(['é', 'ünal', '東京'].map(rangeOf)).toEqual([3, 3, 3]) // above 'z'
  })

  it('is code point order, not UTF-16 order, above the BMP', () => {
    // U+FF5E '～' < U+1F600 '😀' as code points, though its UTF-16 unit FF5E > D83D.
    const astral = createOwnerStrategy({ kind: 'range', splits: ['\uFF5E'] })
    expect(rangeOfBucket(astral.bucketOf('😀'), 2)).toBe(1)
    expect(rangeOfBucket(astral.bucketOf('\uFF00'), 2)).toBe(0)
    expect(() => validateRangeSplits(['😀', '\uFF5E'])).toThrow(
      /strictly increasing \(in code point order\)/,
    )
  })

  it('uses lexical order when any split point is not an integer', () => {
    const mixed = createOwnerStrategy({ kind: 'range', splits: ['100', 'm'] })
    // As text '9' > '100', so owner '9' is in the middle range, not the first.
    expect(rangeOfBucket(mixed.bucketOf('9'), 3)).toBe(1)
    expect(rangeOfBucket(mixed.bucketOf('10'), 3)).toBe(0)
  })
})

describe('range strategy on the initial layout', () => {
  it.each([2, 3, 4, 7, 10, 100])(
    'with %i ranges and as many shards, range i lands entirely on shard i',
    (k) => {
      const shards = range(0, k).map((i) => 100 + i)
      const layout = initialLayout(shards)
      for (let i = 0; i < k; i++) {
        const { start, width } = rangeBuckets(i, k)
        const owners = range(start, start + width).map((b) => layout[b])
        expect(new Set(owners), `range ${i}`).toEqual(new Set([shards[i]]))
      }
      // The ranges tile all 4096 buckets without gaps or overlaps.
      const ends = range(0, k).map((i) => rangeBuckets(i, k))
      expect(ends.reduce((sum, { width }) => sum + width, 0)).toBe(BUCKET_COUNT)
      expect(
        ends.every(({ start }, i) => i === 0 || start === ends[i - 1]!.start + ends[i - 1]!.width),
      ).toBe(true)
    },
  )

  it('rounds range edges up, as the layout does: 4096/3 gives 1366, 1365, 1365', () => {
    expect(range(0, 3).map((i) => rangeBuckets(i, 3))).toEqual([
      { start: 0, width: 1366 },
      { start: 1366, width: 1365 },
      { start: 2731, width: 1365 },
    ])
  })

  it('routes "users 1–1000" to shard A and the next thousand to shard B', () => {
    const strategy = createOwnerStrategy({ kind: 'range', splits: ['1001', '2001'] })
    const layout = initialLayout([0, 1, 2])
    const shardOf = (owner: string) => layout[strategy.bucketOf(owner)]
    expect(new Set(range(1, 1001).map((i) => shardOf(String(i))))).toEqual(new Set([0]))
    expect(new Set(range(1001, 2001).map((i) => shardOf(String(i))))).toEqual(new Set([1]))
    expect(new Set(range(2001, 3001).map((i) => shardOf(String(i))))).toEqual(new Set([2]))
  })
})

describe('directory strategy', () => {
  it('uses the explicit placement, else the plain hash', () => {
    const strategy = createOwnerStrategy(
      { kind: 'directory' },
      new Map([
        ['hot-tenant', 4095],
        ['pinned', 0],
      ]),
    )
    expect(strategy.kind).toBe('directory')
    expect(strategy.bucketOf('hot-tenant')).toBe(4095)
    expect(strategy.bucketOf('pinned')).toBe(0)
    expect(strategy.bucketOf('someone-else')).toBe(bucketOf('someone-else'))
    expect(createOwnerStrategy({ kind: 'directory' }).bucketOf('x')).toBe(bucketOf('x'))
  })

  it("does not follow later changes to the caller's map", () => {
    const placements = new Map([['tenant', 7]])
    const strategy = createOwnerStrategy({ kind: 'directory' }, placements)
    placements.set('tenant', 8)
    expect(strategy.bucketOf('tenant')).toBe(7)
  })

  it('refuses a placement outside 0..4095 at creation', () => {
    for (const bucket of [-1, 4096, 1.5, Number.NaN]) {
      expect(() =>
        createOwnerStrategy({ kind: 'directory' }, new Map([['tenant', bucket]])),
      ).toThrow(/Owner "tenant" is placed in bucket .*, outside 0\.\.4095/)
    }
  })

  it('is ignored by the other strategies', () => {
    const placements = new Map([['alice', 1]])
    expect(createOwnerStrategy({ kind: 'hash' }, placements).bucketOf('alice')).toBe(
      bucketOf('alice'),
    )
  })
})

describe('validateRangeSplits', () => {
  it('accepts increasing split points and the 4095-point maximum', () => {
    expect(() => validateRangeSplits([])).not.toThrow()
    expect(() => validateRangeSplits(['1000', '2000'])).not.toThrow()
    expect(() => validateRangeSplits(['-10', '9', '10'])).not.toThrow()
    expect(() => validateRangeSplits(range(0, 4095).map(String))).not.toThrow()
    expect(createOwnerStrategy({ kind: 'range', splits: [] }).bucketOf('anyone')).toBe(
      bucketOf('anyone'),
    )
  })

  it('refuses unordered, repeated, too many or non-string split points', () => {
    expect(() => validateRangeSplits(['2000', '1000'])).toThrow(
      'Range split points must be strictly increasing (as integers), but "2000" is followed by "1000"',
    )
    expect(() => validateRangeSplits(['10', '9'])).toThrow(/as integers/) // fine as text, not as numbers
    expect(() => validateRangeSplits(['007', '7'])).toThrow(/strictly increasing/) // equal numbers
    expect(() => validateRangeSplits(['b', 'a'])).toThrow(/in code point order/)
    expect(() => validateRangeSplits(['a', 'a'])).toThrow(/strictly increasing/)
    expect(() => validateRangeSplits(range(0, 4096).map(String))).toThrow(/At most 4096 ranges/)
    expect(() => validateRangeSplits([1000, 2000] as unknown as string[])).toThrow(
      /must be strings/,
    )
    expect(() => createOwnerStrategy({ kind: 'range', splits: ['b', 'a'] })).toThrow(
      /strictly increasing/,
    )
  })
})
