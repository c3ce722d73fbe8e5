import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { readHeader } from './read-header.js'
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

  // The head is a quarter of a megabyte: a JPEG whose frame header lies past it (segments before
  // the frame, as a camera's EXIF thumbnails or a large ICC profile make) is read from the file.
  it('reads a still format from the stored file when its header lies past the head', async () => {
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: 'red' } })
      .jpeg()
      .toBuffer()
    const segment = Buffer.alloc(60_000, 0x20)
    segment.writeUInt16BE(0xfffe, 0) // COM, its length counting the two length bytes
    segment.writeUInt16BE(segment.length - 2, 2)
    const comments = Array.from({ length: Math.ceil(HEAD_BYTES / segment.length) }, () => segment)
    const padded = Buffer.concat([jpeg.subarray(0, 2), ...comments, jpeg.subarray(2)])
    let wholeReads = 0
    const loadWhole = async () => {
      wholeReads++
      return padded
    }
    const header = await readHeader('jpeg', padded.subarray(0, HEAD_BYTES), loadWhole, LIMITS)
    expect(header).toEqual({ width: 64, height: 48, frames: 1 })
    expect(wholeReads).toBe(1)
  })
})
