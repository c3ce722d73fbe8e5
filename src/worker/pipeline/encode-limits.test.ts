import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { FORMATS, maxDimensionOf, OUTPUT_FORMATS } from '../../domain/formats.js'
import { encodeError } from '../../imaging/sharp-errors.js'
import { type DecodedImage, decodeSource } from './decode.js'
import { encodeVariant, variantSize } from './encode.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }
const QUALITY = { jpeg: 80, webp: 75, avif: 50 }

/** A decoded source as decodeSource makes it: `width` × `height`, never enlarged past `maxWidth`. */
const source = (width: number, height: number, decodedWidth = width) =>
  ({
    sourceWidth: width,
    sourceHeight: height,
    info: { width: decodedWidth, height: Math.round((height * decodedWidth) / width) },
  }) as DecodedImage

describe('format limits', () => {
  it('the registry knows each output format’s largest side', () => {
    expect(maxDimensionOf('webp')).toBe(16_383)
    expect(maxDimensionOf('avif')).toBe(16_384)
    expect(maxDimensionOf('jpeg')).toBe(65_535)
    for (const format of OUTPUT_FORMATS) expect(FORMATS[format].maxDimension).toBeGreaterThan(0)
  })
})

describe('variantSize: every variant inside its format’s limits', () => {
  it('keeps a 1000×20000 image within WebP’s and AVIF’s 16383/16384 px, keeping the aspect', () => {
    const tall = source(1000, 20_000)
    expect(variantSize(tall, 1024, 'webp')).toEqual({ width: 819, height: 16_383 })
    expect(variantSize(tall, 2048, 'avif')).toEqual({ width: 819, height: 16_384 })
    // JPEG's limit is 65535: the same variant is not shrunk.
    expect(variantSize(tall, 1024, 'jpeg')).toEqual({ width: 1000, height: 20_000 })
    // A thumbnail is far inside every limit: untouched.
    expect(variantSize(tall, 320, 'webp')).toEqual({ width: 320, height: 6400 })
  })

  it('clamps a very wide image by its width and never returns a zero side', () => {
    expect(variantSize(source(40_000, 100, 8192), 8192, 'webp')).toEqual({
      width: 8192,
      height: 20,
    })
    const sliver = source(100_000, 1, 8192)
    expect(variantSize(sliver, 8192, 'webp')).toEqual({ width: 8192, height: 1 })
    const needle = source(1, 100_000)
    expect(variantSize(needle, 320, 'webp')).toEqual({ width: 1, height: 16_383 })
  })

  it('leaves ordinary images as they were: width-only resize, never enlarged', () => {
    expect(variantSize(source(4000, 3000, 2048), 320, 'webp')).toEqual({ width: 320, height: 240 })
    expect(variantSize(source(640, 480), 1024, 'webp')).toEqual({ width: 640, height: 480 })
  })

  it('encodes a 1000×20000 PNG as WebP and AVIF without an error', async () => {
    const png = await sharp({
      create: { width: 1000, height: 20_000, channels: 3, background: '#336699' },
    })
      .png()
      .toBuffer()
    const decoded = await decodeSource(png, LIMITS, 2048)
    const webp = await encodeVariant(decoded, 2048, 'webp', QUALITY, null)
    expect({ width: webp.width, height: webp.height }).toEqual({ width: 819, height: 16_383 })
    const meta = await sharp(webp.data).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 819, 16_383])
  }, 60_000)
})

describe('encodeError', () => {
  it('makes a failed encode a permanent IMAGE_UNENCODABLE with our own message', async () => {
    const failure = await sharp({
      create: { width: 4, height: 20_000, channels: 3, background: '#000' },
    })
      .webp()
      .toBuffer()
      .then(
        () => null,
        (error: unknown) => error,
      )
    expect(failure).toBeInstanceOf(Error) // libvips refuses it: the input to the mapping is real
    const mapped = encodeError(failure, 'webp')
    expect(mapped).toMatchObject({ code: 'IMAGE_UNENCODABLE', statusCode: 422 })
    expect(mapped.message).toBe('The image cannot be encoded as webp')
    expect(mapped.message).not.toContain((failure as Error).message)
    expect(mapped.cause).toBe(failure)
  })
})
