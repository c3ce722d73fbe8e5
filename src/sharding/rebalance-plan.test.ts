import { describe, expect, it } from 'vitest'
import xxhash from 'xxhash-wasm'
import { BUCKET_COUNT, bucketOf, initialLayout } from '../domain/bucket.js'
import { applyMoves, type BucketMove, planRebalance } from './rebalance-plan.js'

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

function countsOf(directory: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>()
  for (const shard of directory) counts.set(shard, (counts.get(shard) ?? 0) + 1)
  return counts
}

/** Every listed shard holds floor(4096/n) or ceil(4096/n) buckets, and no other shard holds any. */
function expectBalanced(directory: readonly number[], shardIds: readonly number[]): void {
  const counts = countsOf(directory)
  const floor = Math.floor(BUCKET_COUNT / shardIds.length)
  const ceil = Math.ceil(BUCKET_COUNT / shardIds.length)
  expect([...counts.keys()].sort((a, b) => a - b)).toEqual([...shardIds].sort((a, b) => a - b))
  for (const id of shardIds) expect([floor, ceil]).toContain(counts.get(id))
}

/** Lower bound on moves for a balanced result: every bucket a shard lacks must arrive once. */
function minimumMoves(directory: readonly number[], shardIds: readonly number[]): number {
  const counts = countsOf(directory)
  const base = Math.floor(BUCKET_COUNT / shardIds.length)
  const extra = BUCKET_COUNT % shardIds.length
  const held = shardIds.map((id) => counts.get(id) ?? 0).sort((a, b) => b - a)
  return held.reduce(
    (sum, count, rank) => sum + Math.max(0, base + (rank < extra ? 1 : 0) - count),
    0,
  )
}

describe('initialLayout', () => {
  it('gives each shard one contiguous run, matching the router formula floor(b·n/4096)', () => {
    const layout = initialLayout([10, 20, 30])
    expect(layout).toHaveLength(BUCKET_COUNT)
    expect(
      layout.every((shard, b) => shard === [10, 20, 30][Math.floor((b * 3) / BUCKET_COUNT)]),
    ).toBe(true)
    expect([
      layout[0],
      layout[1365],
      layout[1366],
      layout[2730],
      layout[2731],
      layout[4095],
    ]).toEqual([10, 10, 20, 20, 30, 30])
    expectBalanced(layout, [10, 20, 30])
  })
})

describe('planRebalance', () => {
  it('adding a 5th shard to 4 moves one fifth of the buckets, all to the new shard', () => {
    const before = initialLayout([0, 1, 2, 3])
    const moves = planRebalance(before, [0, 1, 2, 3, 4])
    expect([819, 820]).toContain(moves.length)
    expect(moves.every((move) => move.to === 4 && move.from !== 4)).toBe(true)
    const after = applyMoves(before, moves)
    expectBalanced(after, [0, 1, 2, 3, 4])
    // Nothing moved between the old shards: each bucket kept its owner or went to the new one.
    expect(after.every((shard, b) => shard === before[b] || shard === 4)).toBe(true)
  })

  it('moves ~20% of owners, against ~80% for hash-mod-n placement (the control)', async () => {
    const { h64 } = await xxhash()
    const owners = range(0, 100_000).map((i) => `owner-${i}`)
    // Control: shard = xxHash64(owner) mod n, the placement a bucket directory avoids.
    const modMoved = owners.map((owner) => h64(owner, 0n)).filter((h) => h % 4n !== h % 5n).length
    expect(modMoved / owners.length).toBeGreaterThan(0.75)
    expect(modMoved / owners.length).toBeLessThan(0.85)

    const before = initialLayout([0, 1, 2, 3])
    const after = applyMoves(before, planRebalance(before, [0, 1, 2, 3, 4]))
    const moved = owners.map(bucketOf).filter((bucket) => before[bucket] !== after[bucket])
    expect(moved.length / owners.length).toBeGreaterThan(0.17)
    expect(moved.length / owners.length).toBeLessThan(0.23)
    expect(moved.every((bucket) => after[bucket] === 4)).toBe(true)
  })

  it('splits one shard into two (1 → 2): half the buckets move', () => {
    const before = initialLayout([7])
    const moves = planRebalance(before, [7, 8])
    expect(moves).toHaveLength(2048)
    expect(moves.every((move) => move.from === 7 && move.to === 8)).toBe(true)
    // The highest buckets leave, so the new shard gets one contiguous run.
    expect(moves.map((move) => move.bucket)).toEqual(range(2048, 4096))
    expectBalanced(applyMoves(before, moves), [7, 8])
  })

  it('doubles 4 → 8: each new shard gets half of one old shard, nothing between old shards', () => {
    const before = initialLayout([0, 1, 2, 3])
    const moves = planRebalance(before, range(0, 8))
    expect(moves).toHaveLength(2048)
    expect(moves.every((move) => move.from < 4 && move.to >= 4)).toBe(true)
    const after = applyMoves(before, moves)
    expectBalanced(after, range(0, 8))
    expect(after.every((shard, b) => shard === before[b] || shard >= 4)).toBe(true)
  })

  it('drains removed shards (8 → 5): only their buckets move, onto the survivors', () => {
    const before = initialLayout(range(0, 8))
    const moves = planRebalance(before, range(0, 5))
    expect(moves).toHaveLength(3 * 512)
    expect(moves.every((move) => move.from >= 5 && move.to < 5)).toBe(true)
    expectBalanced(applyMoves(before, moves), range(0, 5))
  })

  it('drains a shard that is not listed even when the count stays the same', () => {
    const before = initialLayout([0, 1, 2, 3])
    const moves = planRebalance(before, [0, 1, 2, 9]) // shard 3 replaced by shard 9
    expect(moves).toHaveLength(1024)
    expect(moves.every((move) => move.from === 3 && move.to === 9)).toBe(true)
  })

  it('plans nothing for an already balanced directory', () => {
    expect(planRebalance(initialLayout([0, 1, 2, 3, 4]), [0, 1, 2, 3, 4])).toEqual([])
    const three = initialLayout([0, 1, 2])
    const rebalanced = applyMoves(three, planRebalance(three, [0, 1, 2, 3]))
    expect(planRebalance(rebalanced, [0, 1, 2, 3])).toEqual([])
  })

  it('keeps the extra bucket where it already is (n ∤ 4096): fewest moves', () => {
    // 4096 = 3·1365 + 1: one shard may hold 1366. Whichever holds it keeps it; moving it costs.
    const before = initialLayout([0, 1, 2])
    const skewed = applyMoves(before, [{ bucket: 0, from: 0, to: 2 }]) // 1365 / 1365 / 1366
    expect(planRebalance(skewed, [0, 1, 2])).toEqual([])
  })

  it('uses the fewest moves on an arbitrary unbalanced directory', () => {
    let seed = 12345
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0)
    const shardIds = [3, 5, 8, 13, 21, 34]
    const skewedOwner = () => [3, 3, 3, 5, 8, 99][next() % 6]!
    const before = Array.from({ length: BUCKET_COUNT }, skewedOwner)
    const moves = planRebalance(before, shardIds)
    expect(moves).toHaveLength(minimumMoves(before, shardIds))
    expectBalanced(applyMoves(before, moves), shardIds)
    expect(new Set(moves.map((move) => move.bucket)).size).toBe(moves.length) // each bucket once
  })

  it('is deterministic and independent of the order the shard ids are listed in', () => {
    const before = initialLayout([0, 1, 2, 3])
    const plan = planRebalance(before, [0, 1, 2, 3, 4, 5])
    expect(planRebalance(before, [0, 1, 2, 3, 4, 5])).toEqual(plan)
    expect(planRebalance(before, [5, 3, 1, 4, 0, 2])).toEqual(plan)
  })

  it('refuses an empty or duplicated shard list and a directory of the wrong size', () => {
    const directory = initialLayout([0, 1])
    expect(() => planRebalance(directory, [])).toThrow(/at least one shard/i)
    expect(() => planRebalance(directory, [0, 1, 1])).toThrow(/duplicate shard id 1/i)
    expect(() => planRebalance(directory, [0, 1.5])).toThrow(/integers/)
    expect(() => planRebalance(directory.slice(1), [0, 1])).toThrow(/4096 buckets/)
    expect(() => initialLayout([])).toThrow(/at least one shard/i)
  })
})

describe('applyMoves', () => {
  it('returns a copy and refuses a move made for another directory version', () => {
    const directory = initialLayout([0, 1])
    const moves: BucketMove[] = [{ bucket: 4095, from: 1, to: 2 }]
    const after = applyMoves(directory, moves)
    expect(after[4095]).toBe(2)
    expect(directory[4095]).toBe(1)
    expect(() => applyMoves(after, moves)).toThrow(/expects shard 1, but the directory says 2/)
    expect(() => applyMoves(directory, [{ bucket: 4096, from: 1, to: 2 }])).toThrow(/outside/)
  })
})
