import { encode as encodeBlurhash } from 'blurhash'
import { rgbaToThumbHash } from 'thumbhash'
import { describe, expect, it } from 'vitest'
import { legacyPlaceholderKind } from './placeholder-kind.js'

/** Pixels that vary by seed, so the hashes cover many shapes and character mixes. */
function pixels(w: number, h: number, seed: number, alpha: number): Uint8ClampedArray {
  const data = new Uint8ClampedArray(w * h * 4)
  for (let i = 0; i < data.length; i++)
    data[i] = i % 4 === 3 ? alpha : (i * (seed * 7 + 13) + seed * 101) % 256
  return data
}

describe('the kind of a placeholder stored without one (rows before 0008)', () => {
  it('reads every ThumbHash as a ThumbHash, whatever its size, aspect and alpha', () => {
    let checked = 0
    for (let seed = 0; seed < 40; seed++)
      for (const [w, h] of [
        [100, 100],
        [100, 30],
        [30, 100],
        [100, 60],
        [70, 100],
        [100, 1],
      ])
        for (const alpha of [255, 90]) {
          const hash = rgbaToThumbHash(w!, h!, pixels(w!, h!, seed, alpha))
          expect(legacyPlaceholderKind(Buffer.from(hash).toString('base64'))).toBe('thumbhash')
          checked++
        }
    expect(checked).toBe(480)
  })

  it('reads BlurHashes as BlurHashes', () => {
    for (let seed = 0; seed < 200; seed++) {
      const hash = encodeBlurhash(pixels(32, 24, seed, 255), 32, 24, 4, 3)
      expect(legacyPlaceholderKind(hash), hash).toBe('blurhash')
    }
    expect(legacyPlaceholderKind('LKO2?U%2Tw=w]~RBVZRi};RPxuwH')).toBe('blurhash')
  })

  it('reads a BlurHash made only of characters base64 shares by the ThumbHash length check', () => {
    // 28 characters that decode as base64 to 21 bytes whose "header" implies another length.
    const value = 'LAAAAAAAAAAAAAAAAAAAAAAAAAAA'
    expect(Buffer.from(value, 'base64')).toHaveLength(21)
    expect(legacyPlaceholderKind(value)).toBe('blurhash')
  })
})
