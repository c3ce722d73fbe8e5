import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { makeJpeg } from '../../../test/fixtures/images.js'
import type { Overlay } from '../../imaging/watermark.js'
import { type DecodedImage, decodeSource } from './decode.js'
import { encodeVariant } from './encode.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }
const QUALITY = { jpeg: 80, webp: 75, avif: 50 }

const decode = async (input: Buffer) => decodeSource(input, LIMITS, 4_000)

/** A solid image; with alpha < 255 it is see-through. */
async function solid(
  width: number,
  height: number,
  colour: { r: number; g: number; b: number; alpha?: number },
): Promise<DecodedImage> {
  const channels = colour.alpha === undefined ? 3 : 4
  return decode(
    await sharp({ create: { width, height, channels, background: colour } })
      .png()
      .toBuffer(),
  )
}

/** A solid red mark of the given size, as watermark.ts builds them. */
function redMark(width: number, height: number): Overlay {
  const input = Buffer.alloc(width * height * 4)
  for (let i = 0; i < input.length; i += 4) input.set([255, 0, 0, 255], i)
  return { input, raw: { width, height, channels: 4 }, gravity: 'southeast' }
}

/** The colour (alpha left out) of one pixel of an encoded image. */
async function pixelAt(data: Buffer, x: number, y: number): Promise<number[]> {
  const { data: raw, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true })
  const at = (y * info.width + x) * info.channels
  return [...raw.subarray(at, at + 3)]
}

describe('encodeVariant', () => {
  it('shrinks to the preset width, keeping the aspect ratio', async () => {
    const image = await decode(await makeJpeg(300, 200))
    const out = await encodeVariant(image, 150, 'webp', QUALITY, null)
    expect([out.width, out.height]).toEqual([150, 100])
    expect(await sharp(out.data).metadata()).toMatchObject({
      format: 'webp',
      width: 150,
      height: 100,
    })
  })

  it('never enlarges: a preset wider than the source gets the source size', async () => {
    const image = await decode(await makeJpeg(120, 80))
    for (const format of ['webp', 'jpeg', 'avif', 'png'] as const) {
      const out = await encodeVariant(image, 1_000, format, QUALITY, null)
      expect([format, out.width, out.height]).toEqual([format, 120, 80])
      expect((await sharp(out.data).metadata()).format).toBe(format === 'avif' ? 'heif' : format)
    }
  })

  it('flattens alpha onto white for JPEG, and keeps it for WebP', async () => {
    // Black at a quarter opacity: on white that is a light grey (255 · 3/4 ≈ 191), not black.
    const image = await solid(40, 20, { r: 0, g: 0, b: 0, alpha: 0.25 })
    const jpeg = await encodeVariant(image, 40, 'jpeg', QUALITY, null)
    const [r, g, b] = await pixelAt(jpeg.data, 20, 10)
    for (const channel of [r, g, b]) expect(Math.abs(channel! - 191)).toBeLessThanOrEqual(4)
    const webp = await encodeVariant(image, 40, 'webp', QUALITY, null)
    expect((await sharp(webp.data).metadata()).hasAlpha).toBe(true)
  })

  it('composites the watermark when it fits, and skips it on a variant shorter than the mark', async () => {
    const image = await solid(200, 100, { r: 0, g: 0, b: 255 })
    const marked = await encodeVariant(image, 200, 'png', QUALITY, redMark(50, 20))
    expect(await pixelAt(marked.data, 199, 99)).toEqual([255, 0, 0])
    expect(await pixelAt(marked.data, 0, 0)).toEqual([0, 0, 255])
    // A 200×100 source at width 40 is 40×20: a 30 px tall mark would not fit, so none is drawn.
    const small = await encodeVariant(image, 40, 'png', QUALITY, redMark(10, 30))
    expect([small.width, small.height]).toEqual([40, 20])
    expect(await pixelAt(small.data, 39, 19)).toEqual([0, 0, 255])
    expect(small.etag).toBe((await encodeVariant(image, 40, 'png', QUALITY, null)).etag)
  })

  it('tags with a strong ETag of the bytes: equal bytes, equal tag; other bytes, another', async () => {
    const image = await decode(await makeJpeg(100, 60))
    const [a, b, c] = await Promise.all([
      encodeVariant(image, 50, 'webp', QUALITY, null),
      encodeVariant(image, 50, 'webp', QUALITY, null),
      encodeVariant(image, 50, 'jpeg', QUALITY, null),
    ])
    expect(a.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/)
    expect(Buffer.compare(a.data, b.data)).toBe(0)
    expect(b.etag).toBe(a.etag)
    expect(c.etag).not.toBe(a.etag)
  })
})
