import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import * as fixtures from '../fixtures/images.js'

/** Upload → ready for every accepted input kind, checking each variant's real bytes. */
describe('upload → ready, per input format', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(() => h.close())

  async function process(input: Buffer, type: string) {
    const res = await h.upload(input, type)
    expect(res.statusCode, res.body).toBe(202)
    const image = await h.waitSettled(res.json().id)
    expect(image.status, JSON.stringify(image.failure)).toBe('ready')
    return image
  }

  async function fetchVariant(url: string) {
    const res = await h.pf.app.inject({ method: 'GET', url: new URL(url).pathname })
    expect(res.statusCode).toBe(200)
    return { bytes: res.rawPayload, type: res.headers['content-type'] }
  }

  /** Each preset × format exists, at the preset width (or the source width: never enlarged). */
  async function checkVariants(image: any, sourceWidth: number, sourceHeight: number) {
    expect(image.variants).toHaveLength(6)
    for (const [name, presetWidth] of [
      ['thumb', 320],
      ['medium', 1024],
      ['large', 2048],
    ] as const) {
      for (const format of ['webp', 'jpeg']) {
        const variant = image.variants.find((v: any) => v.name === name && v.format === format)
        const width = Math.min(presetWidth, sourceWidth)
        expect(variant, `${name}.${format}`).toMatchObject({
          width,
          height: Math.round((sourceHeight * width) / sourceWidth),
        })
        const { bytes, type } = await fetchVariant(variant.url)
        const meta = await sharp(bytes).metadata()
        expect(type).toBe(`image/${format}`)
        expect(meta.format).toBe(format)
        expect([meta.width, meta.height]).toEqual([variant.width, variant.height])
        expect(meta.exif, 'no EXIF (and so no GPS) survives').toBeUndefined()
        expect(meta.xmp).toBeUndefined()
        expect(meta.orientation).toBeUndefined()
        expect(meta.space).toBe('srgb')
        expect(meta.depth).toBe('uchar')
      }
    }
  }

  it('JPEG', async () => {
    const image = await process(await fixtures.makeJpeg(640, 480), 'image/jpeg')
    expect(image).toMatchObject({ format: 'jpeg', width: 640, height: 480 })
    expect(image.placeholder).toEqual({
      type: 'thumbhash',
      value: expect.stringMatching(/^[A-Za-z0-9+/=]{10,}$/),
    })
    expect(image.dominantColor).toMatch(/^#[0-9a-f]{6}$/)
    await checkVariants(image, 640, 480)
  })

  it('PNG with alpha keeps alpha in WebP and flattens it in JPEG', async () => {
    const image = await process(await fixtures.makePngAlpha(400, 300), 'image/png')
    await checkVariants(image, 400, 300)
    const webp = image.variants.find((v: any) => v.name === 'thumb' && v.format === 'webp')
    const jpeg = image.variants.find((v: any) => v.name === 'thumb' && v.format === 'jpeg')
    expect((await sharp((await fetchVariant(webp.url)).bytes).metadata()).hasAlpha).toBe(true)
    expect((await sharp((await fetchVariant(jpeg.url)).bytes).metadata()).hasAlpha).toBe(false)
  })

  it('WebP, GIF and AVIF', async () => {
    for (const [make, type, w, h2] of [
      [fixtures.makeWebp, 'image/webp', 500, 400],
      [fixtures.makeGif, 'image/gif', 300, 200],
      [fixtures.makeAvif, 'image/avif', 400, 300],
    ] as const) {
      const image = await process(await make(), type)
      expect(image.format).toBe(type.slice(6))
      await checkVariants(image, w, h2)
    }
  })

  it('a 16-bit PNG comes out 8-bit', async () => {
    const input = await fixtures.makePng16(400, 300)
    expect((await sharp(input).metadata()).depth).toBe('ushort')
    await checkVariants(await process(input, 'image/png'), 400, 300)
  })

  it('a CMYK JPEG comes out sRGB', async () => {
    const input = await fixtures.makeCmykJpeg(400, 300)
    expect((await sharp(input).metadata()).space).toBe('cmyk')
    await checkVariants(await process(input, 'image/jpeg'), 400, 300)
  })

  it('an EXIF-rotated JPEG with GPS is turned upright and stripped', async () => {
    const input = await fixtures.makeRotatedJpegWithGps()
    const before = await sharp(input).metadata()
    expect([before.width, before.height, before.orientation]).toEqual([600, 400, 6])
    expect(before.exif).toBeDefined()
    const image = await process(input, 'image/jpeg')
    expect([image.width, image.height]).toEqual([400, 600])
    await checkVariants(image, 400, 600)
    // Stored pixel (0, 399) is green-heavy; after the 90° clockwise turn it is the top-left pixel.
    const thumb = image.variants.find((v: any) => v.name === 'thumb' && v.format === 'webp')
    const { data } = await sharp((await fetchVariant(thumb.url)).bytes)
      .raw()
      .toBuffer({ resolveWithObject: true })
    expect(data[1]).toBeGreaterThan(200)
    expect(data[0]).toBeLessThan(40)
  })

  it('an embedded colour profile is honoured: Display P3 pixels come out as the same colour in sRGB', async () => {
    const colour = { r: 200, g: 100, b: 50 }
    const input = await sharp({
      create: { width: 400, height: 300, channels: 3, background: colour },
    })
      .withIccProfile('p3')
      .jpeg({ quality: 100 })
      .toBuffer()
    const stored = await sharp(input).keepIccProfile().raw().toBuffer()
    expect(Math.abs(stored[0]! - colour.r)).toBeGreaterThan(8) // P3 code values differ from the sRGB ones
    const image = await process(input, 'image/jpeg')
    const thumb = image.variants.find((v: any) => v.name === 'thumb' && v.format === 'webp')
    const bytes = (await fetchVariant(thumb.url)).bytes
    expect((await sharp(bytes).metadata()).icc).toBeUndefined()
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true })
    for (const [i, expected] of [colour.r, colour.g, colour.b].entries())
      expect(Math.abs(data[i]! - expected)).toBeLessThanOrEqual(5)
  })
})
