import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { referenceBucket, xxh64 } from '../../test/fixtures/xxh64-reference.js'
import { BUCKET_COUNT, bucketOf } from './bucket.js'

/** xxHash's own sanity table (cli/xsum_sanity_check.c): prefixes of its generated buffer. */
const PRIME32 = 2654435761n
const SANITY_VECTORS: ReadonlyArray<readonly [number, bigint, bigint]> = [
  [0, 0n, 0xef46db3751d8e999n],
  [0, PRIME32, 0xac75fda2929b17efn],
  [1, 0n, 0xe934a84adb052768n],
  [1, PRIME32, 0x5014607643a9b4c3n],
  [4, 0n, 0x9136a0dca57457een],
  [14, 0n, 0x8282dcc4994e35c8n],
  [14, PRIME32, 0xc3bd6bf63deb6df0n],
  [222, 0n, 0xb641ae8cb691c174n],
  [222, PRIME32, 0x20cb8ab7ae10c14an],
]

/** XSUM_fillTestBuffer: a 64-bit generator seeded with PRIME32; each byte is its top byte. */
function sanityBuffer(length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  let state = PRIME32
  for (let i = 0; i < length; i++) {
    bytes[i] = Number(state >> 56n)
    state = (state * 11400714785074694797n) & ((1n << 64n) - 1n)
  }
  return bytes
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface GoldenEntry {
  key: string
  xxh64: string
  bucket: number
}

/** Written by scripts/golden-buckets.ts from the reference implementation, never by hand. */
function loadGolden(): GoldenEntry[] {
  const file = JSON.parse(
    readFileSync(new URL('./bucket.golden.json', import.meta.url), 'utf8'),
  ) as {
    entries: GoldenEntry[]
  }
  return file.entries
}

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
    // 39 bytes: the 32-byte stripe loop runs (python-xxhash's documented example).
    expect(xxh64(enc('Nobody inspects the spammish repetition'))).toBe(0xfbcea83c8a378bf1n)
  })

  it("uses a reference xxHash64 that matches xxHash's own sanity vectors, seeded and not", () => {
    for (const [length, seed, expected] of SANITY_VECTORS) {
      expect(xxh64(sanityBuffer(length), seed), `length ${length}, seed ${seed}`).toBe(expected)
    }
  })

  it('matches the checked-in golden vectors bit for bit', () => {
    const entries = loadGolden()
    for (const { key, xxh64: hex, bucket } of entries) {
      // All 64 bits, against the reference: a hand-edited entry cannot pass.
      expect(
        xxh64(new TextEncoder().encode(key)).toString(16).padStart(16, '0'),
        JSON.stringify(key),
      ).toBe(hex)
      expect(Number(BigInt(`0x${hex}`) >> 52n), JSON.stringify(key)).toBe(bucket)
      expect(bucketOf(key), JSON.stringify(key)).toBe(bucket)
    }
  })

  it('keeps a golden file that cannot silently shrink', () => {
    const keys = loadGolden().map((entry) => entry.key)
    const utf8Lengths = keys.map((key) => new TextEncoder().encode(key).length)
    const count = (test: (key: string) => boolean) => keys.filter(test).length
    expect(keys.length).toBeGreaterThanOrEqual(1000)
    expect(new Set(keys).size).toBe(keys.length)
    expect(keys).toContain('')
    expect(keys).toEqual(expect.arrayContaining(['0', '400', '-1', String(2 ** 53 - 1)]))
    expect(count((key) => /^-?[0-9]+$/.test(key))).toBeGreaterThanOrEqual(400)
    expect(count((key) => UUID.test(key))).toBeGreaterThanOrEqual(300)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range, NUL included
    expect(count((key) => /[^\x00-\x7f]/.test(key))).toBeGreaterThanOrEqual(200)
    expect(count((key) => /[\u{10000}-\u{10ffff}]/u.test(key))).toBeGreaterThanOrEqual(10) // astral
    expect(keys).toEqual(expect.arrayContaining(['café'.normalize('NFC'), 'café'.normalize('NFD')]))
    // Every xxHash64 length path: 0–3, 4–7, 8–31 and ≥ 32 bytes, each length 0..100 at least once.
    for (let length = 0; length <= 100; length++)
      expect(utf8Lengths, `length ${length}`).toContain(length)
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
