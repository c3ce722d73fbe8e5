import { describe, expect, it } from 'vitest'
import { BUCKET_COUNT, bucketOf } from './bucket.js'

/**
 * A second, independent xxHash64 (pure BigInt, straight from the spec in Cyan4973/xxHash
 * doc/xxhash_spec.md), so the bucket format is checked against something other than xxhash-wasm.
 */
const MASK = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & MASK
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK
const merge = (acc: bigint, lane: bigint) => (((acc ^ round(0n, lane)) * P1) + P4) & MASK

function xxh64(bytes: Uint8Array, seed = 0n): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const u64 = (at: number) => view.getBigUint64(at, true)
  let at = 0
  let h: bigint
  if (bytes.length >= 32) {
    const v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
    for (; at + 32 <= bytes.length; at += 32) {
      for (let lane = 0; lane < 4; lane++) v[lane] = round(v[lane]!, u64(at + lane * 8))
    }
    h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & MASK
    for (const lane of v) h = merge(h, lane)
  } else {
    h = (seed + P5) & MASK
  }
  h = (h + BigInt(bytes.length)) & MASK
  for (; at + 8 <= bytes.length; at += 8) h = ((rotl(h ^ round(0n, u64(at)), 27n) * P1) + P4) & MASK
  if (at + 4 <= bytes.length) {
    h = ((rotl(h ^ ((BigInt(view.getUint32(at, true)) * P1) & MASK), 23n) * P2) + P3) & MASK
    at += 4
  }
  for (; at < bytes.length; at++) h = (rotl(h ^ ((BigInt(bytes[at]!) * P5) & MASK), 11n) * P1) & MASK
  h = ((h ^ (h >> 33n)) * P2) & MASK
  h = ((h ^ (h >> 29n)) * P3) & MASK
  return h ^ (h >> 32n)
}

const referenceBucket = (key: string) => Number(xxh64(new TextEncoder().encode(key)) >> 52n)

/** Deterministic keys of every length class (the 32-byte stripe path included), ASCII and not. */
function sampleKeys(count: number): string[] {
  let seed = 0x9e3779b9
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0)
  const alphabet = [...'abcXYZ019-_@.', 'é', 'ß', 'Ω', 'Я', '東', '京', '🙂', '𝄞']
  return Array.from({ length: count }, () => {
    const length = next() % 90
    return Array.from({ length }, () => alphabet[next() % alphabet.length]).join('')
  })
}

const NAMED_KEYS = ['', 'alice', '12345', '6f1c2f0e-8a4b-4c1d-9e2f-3a5b7c9d1e0f', 'Zoë', '東京']

describe('bucketOf', () => {
  it('uses a reference xxHash64 that matches the published test vectors', () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    expect(xxh64(enc(''))).toBe(0xef46db3751d8e999n)
    expect(xxh64(enc('a'))).toBe(0xd24ec4f1a98c6e5bn)
    expect(xxh64(enc('abc'))).toBe(0x44bc2cf5ad770999n)
  })

  it('is pinned: golden buckets for known owners never change', () => {
    // xxHash64: '' ef46db3751d8e999, 'alice' 73a3ea485f2e6049, '12345' c6f2d2dd0ad64fb6,
    // the UUID bd6d6d6f183239d0, 'Zoë' 577dd6bec83ca1d1, '東京' 954cd0c831e41454.
    expect(NAMED_KEYS.map(bucketOf)).toEqual([0xef4, 0x73a, 0xc6f, 0xbd6, 0x577, 0x954])
  })

  it('is the top 12 bits of xxHash64 (seed 0) of the UTF-8 bytes, for 200 keys', () => {
    const keys = [...NAMED_KEYS, ...sampleKeys(194)]
    expect(keys.some((key) => new TextEncoder().encode(key).length >= 32)).toBe(true)
    for (const key of keys) expect(bucketOf(key), JSON.stringify(key)).toBe(referenceBucket(key))
  })

  it('is deterministic and within [0, 4096)', () => {
    expect(BUCKET_COUNT).toBe(4096)
    for (const key of sampleKeys(500)) {
      const bucket = bucketOf(key)
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < BUCKET_COUNT).toBe(true)
      expect(bucketOf(key)).toBe(bucket)
    }
  })

  it('spreads owners over the buckets', () => {
    const used = new Set(Array.from({ length: 20_000 }, (_, i) => bucketOf(`user-${i}`)))
    expect(used.size).toBeGreaterThan(3_900) // uniform: ≈ 4096·(1 − e^−4.9) ≈ 4065
  })
})
