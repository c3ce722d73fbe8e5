import { decode as decodeBlurhash, isBlurhashValid } from 'blurhash'
import sharp from 'sharp'
import { thumbHashToApproximateAspectRatio, thumbHashToAverageRGBA } from 'thumbhash'
import { describe, expect, it } from 'vitest'
import { decodeSource } from './decode.js'
import { makePlaceholder } from './placeholder.js'
import { makeThumbnail, type Thumbnail } from './thumbnail.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }

/** A 300×150 image, solid orange: a placeholder of it must say "wide" and "orange". */
async function orange(): Promise<Thumbnail> {
  const png = await sharp({
    create: { width: 300, height: 150, channels: 3, background: { r: 255, g: 128, b: 0 } },
  })
    .png()
    .toBuffer()
  return makeThumbnail(await decodeSource(png, LIMITS, 1_000))
}

describe('makePlaceholder', () => {
  it('makes none for "none"', async () => {
    expect(await makePlaceholder('none', await orange())).toBeNull()
  })

  it('makes a base64 ThumbHash that keeps the colour and the aspect ratio', async () => {
    const placeholder = (await makePlaceholder('thumbhash', await orange()))!
    expect(placeholder.type).toBe('thumbhash')
    const hash = placeholder.value
    const bytes = Buffer.from(hash, 'base64')
    expect(bytes.toString('base64')).toBe(hash)
    expect(bytes.length).toBeLessThanOrEqual(25)
    expect(thumbHashToApproximateAspectRatio(bytes)).toBeCloseTo(2, 0)
    const { r, g, b } = thumbHashToAverageRGBA(bytes)
    expect(r).toBeCloseTo(1, 1)
    expect(g).toBeCloseTo(0.5, 1)
    expect(b).toBeCloseTo(0, 1)
  })

  it('makes a 4×3-component BlurHash that keeps the colour', async () => {
    const placeholder = (await makePlaceholder('blurhash', await orange()))!
    expect(placeholder.type).toBe('blurhash')
    const hash = placeholder.value
    expect(isBlurhashValid(hash)).toEqual({ result: true })
    // 1 size char + 1 max-AC char + 4 DC chars + 2 per AC component (4·3 − 1).
    expect(hash).toHaveLength(28)
    // BlurHash quantises its components coarsely: orange comes back orange, not exactly.
    const [r, g, b] = decodeBlurhash(hash, 4, 4)
    expect(Math.abs(r! - 255)).toBeLessThanOrEqual(20)
    expect(Math.abs(g! - 128)).toBeLessThanOrEqual(20)
    expect(Math.abs(b! - 0)).toBeLessThanOrEqual(20)
  })

  it('tells different images apart', async () => {
    const blue = await decodeSource(
      await sharp({
        create: { width: 150, height: 300, channels: 3, background: { r: 0, g: 0, b: 255 } },
      })
        .png()
        .toBuffer(),
      LIMITS,
      1_000,
    )
    const [a, b] = await Promise.all([orange(), makeThumbnail(blue)])
    for (const kind of ['thumbhash', 'blurhash'] as const)
      expect((await makePlaceholder(kind, a))?.value).not.toBe(
        (await makePlaceholder(kind, b))?.value,
      )
  })
})
