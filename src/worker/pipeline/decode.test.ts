import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { makeJpeg, makePngAlpha, makeRotatedJpegWithGps } from '../../../test/fixtures/images.js'
import { isAppError } from '../../errors/index.js'
import { createDecodeBudget } from '../../imaging/decode-budget.js'
import { decodeSource } from './decode.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }

/** An animated GIF of `frames` solid frames, 20×10 each. */
async function animatedGif(frames: number): Promise<Buffer> {
  const frame = (i: number) =>
    sharp({ create: { width: 20, height: 10, channels: 3, background: { r: i * 40, g: 0, b: 0 } } })
      .png()
      .toBuffer()
  const pages = await Promise.all(Array.from({ length: frames }, (_, i) => frame(i)))
  return sharp(pages, { join: { animated: true } })
    .gif()
    .toBuffer()
}

describe('decodeSource', () => {
  it('decodes to 8-bit sRGB pixels at no more than maxWidth, remembering the source size', async () => {
    const decoded = await decodeSource(await makeJpeg(300, 200), LIMITS, 120)
    expect(decoded.info).toMatchObject({ width: 120, height: 80, channels: 3 })
    expect(decoded.data).toHaveLength(120 * 80 * 3)
    expect([decoded.sourceWidth, decoded.sourceHeight]).toEqual([300, 200])
    expect(decoded.hasAlpha).toBe(false)
  })

  it('never enlarges a source narrower than maxWidth', async () => {
    const decoded = await decodeSource(await makeJpeg(64, 48), LIMITS, 1_000)
    expect(decoded.info).toMatchObject({ width: 64, height: 48 })
  })

  it('applies the EXIF orientation: a 600×400 stored, orientation-6 JPEG is 400×600', async () => {
    const decoded = await decodeSource(await makeRotatedJpegWithGps(), LIMITS, 1_000)
    expect([decoded.sourceWidth, decoded.sourceHeight]).toEqual([400, 600])
    expect(decoded.info).toMatchObject({ width: 400, height: 600 })
  })

  it('keeps the alpha channel of a source that has one', async () => {
    const decoded = await decodeSource(await makePngAlpha(40, 30), LIMITS, 1_000)
    expect(decoded.hasAlpha).toBe(true)
    expect(decoded.info.channels).toBe(4)
  })

  it('decodes the first frame of an animation within the frame limit', async () => {
    const decoded = await decodeSource(await animatedGif(3), LIMITS, 1_000)
    expect(decoded.info).toMatchObject({ width: 20, height: 10 })
  })

  it('refuses more frames than allowed with IMAGE_TOO_MANY_FRAMES', async () => {
    const gif = await animatedGif(3)
    await expect(decodeSource(gif, { ...LIMITS, maxFrames: 2 }, 1_000)).rejects.toMatchObject({
      code: 'IMAGE_TOO_MANY_FRAMES',
    })
  })

  it('maps source failures to permanent, coded errors', async () => {
    const jpeg = await makeJpeg(300, 200)
    await expect(
      decodeSource(jpeg, { ...LIMITS, maxInputPixels: 300 * 200 - 1 }, 1_000),
    ).rejects.toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', statusCode: 422 })
    await expect(
      decodeSource(jpeg.subarray(0, jpeg.length / 2), LIMITS, 1_000),
    ).rejects.toMatchObject({ code: 'IMAGE_TRUNCATED' })
    await expect(
      decodeSource(Buffer.from('not an image at all'), LIMITS, 1_000),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' })
  })

  it('reads a file (an original in a local store) as it reads the same bytes, with the same errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-decode-'))
    try {
      const jpeg = await makeRotatedJpegWithGps()
      const file = async (name: string, bytes: Buffer) => {
        await writeFile(join(dir, name), bytes)
        return join(dir, name)
      }
      const fromFile = await decodeSource(await file('whole.jpg', jpeg), LIMITS, 1_000)
      const fromBytes = await decodeSource(jpeg, LIMITS, 1_000)
      expect(fromFile.info).toEqual(fromBytes.info)
      expect(fromFile.data.equals(fromBytes.data)).toBe(true)
      await expect(
        decodeSource(await file('half.jpg', jpeg.subarray(0, jpeg.length / 2)), LIMITS, 1_000),
      ).rejects.toMatchObject({ code: 'IMAGE_TRUNCATED' })
      await expect(
        decodeSource(await file('text.jpg', Buffer.from('not an image at all')), LIMITS, 1_000),
      ).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' })
      // Gone before the read (the image was deleted): a transient failure, not a coded one.
      const missing = await decodeSource(join(dir, 'gone.jpg'), LIMITS, 1_000).catch((e) => e)
      expect(missing).toBeInstanceOf(Error)
      expect(isAppError(missing)).toBe(false)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('lets a progressive JPEG wait while the decode budget is held', async () => {
    const budget = createDecodeBudget(1)
    let release!: () => void
    const holding = budget(1024 * 1024, () => new Promise<void>((resolve) => (release = resolve)))
    const source = await sharp(await makeJpeg(800, 600))
      .jpeg({ progressive: true })
      .toBuffer()
    let decoded = false
    const decoding = decodeSource(source, LIMITS, 400, budget).finally(() => (decoded = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(decoded).toBe(false)
    release()
    await holding
    expect((await decoding).info.width).toBe(400)
  })
})
