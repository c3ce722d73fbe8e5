import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { HEADER_PREFIX_BYTES, readHeader } from './read-header.js'
import { HEAD_BYTES } from './upload-inspector.js'

const LIMITS = { maxUploadBytes: 50_000_000, maxInputPixels: 50_000_000, maxFrames: 20 }

/** An animation of noise (so it does not compress) with `frames` frames of 256 × 256. */
async function noisyGif(frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(256 * 256 * 3 * frames)
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24
  return sharp(raw, { raw: { width: 256, height: 256 * frames, channels: 3, pageHeight: 256 } })
    .gif()
    .toBuffer()
}

describe('readHeader', () => {
  // A GIF read from its head alone parses without error and counts only the frames in it:
  // the frame limit was checked on 12 of 60 frames, and the upload got a 202 it should not have.
  it('counts every frame of an animation longer than the head, and refuses past the limit', async () => {
    const gif = await noisyGif(60)
    expect(gif.length).toBeGreaterThan(HEAD_BYTES)
    const head = gif.subarray(0, HEAD_BYTES)
    await expect(readHeader('gif', head, async () => gif, LIMITS)).rejects.toMatchObject({
      code: 'IMAGE_TOO_MANY_FRAMES',
    })
    const within = { ...LIMITS, maxFrames: 60 }
    expect(await readHeader('gif', head, async () => gif, within)).toMatchObject({ frames: 60 })
  })

  it('reads a still format from the head alone', async () => {
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: 'red' } })
      .jpeg()
      .toBuffer()
    const header = await readHeader(
      'jpeg',
      jpeg,
      () => Promise.reject(new Error('the head was enough')),
      LIMITS,
    )
    expect(header).toEqual({ width: 64, height: 48, frames: 1 })
  })

  /** A 64 × 48 JPEG with 60 KB comment segments before its frame header, past `bytes` in all. */
  async function paddedJpeg(bytes: number): Promise<Buffer> {
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: 'red' } })
      .jpeg()
      .toBuffer()
    const segment = Buffer.alloc(60_000, 0x20)
    segment.writeUInt16BE(0xfffe, 0) // COM, its length counting the two length bytes
    segment.writeUInt16BE(segment.length - 2, 2)
    const comments = Array.from({ length: Math.ceil(bytes / segment.length) }, () => segment)
    return Buffer.concat([jpeg.subarray(0, 2), ...comments, jpeg.subarray(2)])
  }

  /** The stored original as readHeader loads it, counting prefix and whole reads. */
  function storedAs(original: Buffer) {
    const reads = { prefix: 0, whole: 0 }
    const load = async (bytes?: number) => {
      if (bytes === undefined) reads.whole++
      else reads.prefix++
      return bytes === undefined ? original : original.subarray(0, bytes)
    }
    return { reads, load }
  }

  it('reads nothing more when a broken head was the whole upload', async () => {
    const { reads, load } = storedAs(Buffer.from('\xff\xd8 not a frame', 'latin1'))
    await expect(
      readHeader('jpeg', Buffer.from('\xff\xd8 not a frame', 'latin1'), load, LIMITS),
    ).rejects.toMatchObject({ code: 'IMAGE_UNDECODABLE' })
    expect(reads).toEqual({ prefix: 0, whole: 0 })
  })

  // Segments before the frame header (a camera's EXIF thumbnail, an ICC profile, XMP) can push it
  // past the head: the stored file's first quarter megabyte is read then, and all of it only when
  // the header lies past that too.
  it.each([
    ['the head', HEAD_BYTES, { prefix: 1, whole: 0 }],
    ['the prefix too', HEADER_PREFIX_BYTES, { prefix: 1, whole: 1 }],
  ])('reads a still format whose header lies past %s', async (_, past, expected) => {
    const padded = await paddedJpeg(past)
    expect(padded.length).toBeGreaterThan(past)
    const { reads, load } = storedAs(padded)
    const header = await readHeader('jpeg', padded.subarray(0, HEAD_BYTES), load, LIMITS)
    expect(header).toEqual({ width: 64, height: 48, frames: 1 })
    expect(reads).toEqual(expected)
  })
})
