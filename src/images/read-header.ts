import sharp, { type Metadata } from 'sharp'
import type { LimitsConfig } from '../config/schema.js'
import type { InputFormat } from '../domain/formats.js'
import { AppError } from '../errors/index.js'
import { HEAD_BYTES } from './upload-inspector.js'

export interface ImageHeader {
  width: number
  height: number
  frames: number
}

/**
 * Formats with one frame whatever their length: their header, at the start, says it all. The
 * others count frames through the whole file (a GIF read from its head alone parses cleanly
 * and counts only the frames in it), so their frame limit is checked on all of it.
 */
const STILL: ReadonlySet<InputFormat> = new Set(['jpeg', 'png'])

/**
 * How much of the stored original is read when the head did not hold a still image's header:
 * room for several 64 KB segments (EXIF with thumbnails, ICC, XMP) before the frame header.
 */
export const HEADER_PREFIX_BYTES = 256 * 1024

/**
 * The stored original: its first `bytes` (fewer when it is shorter), or all of it without them.
 */
export type LoadStored = (bytes?: number) => Promise<Buffer>

/**
 * Reads dimensions and frame count from the image header (libvips reads headers without decoding
 * pixels) and applies the pixel and frame limits, so a decompression bomb is refused before any
 * decode. A still image's head usually holds its header; for one pushed past it (large EXIF, ICC
 * or XMP blocks) the stored original's first HEADER_PREFIX_BYTES are read, then all of it. The
 * whole original is always the source for animations.
 */
export async function readHeader(
  format: InputFormat,
  head: Buffer,
  load: LoadStored,
  limits: LimitsConfig,
): Promise<ImageHeader> {
  const meta = STILL.has(format) ? await stillMetadata(head, load) : await metadataOf(await load())
  const frames = meta.pages ?? 1
  const frameHeight = meta.pageHeight ?? meta.height
  if (meta.width * frameHeight > limits.maxInputPixels) {
    throw new AppError(
      'IMAGE_TOO_MANY_PIXELS',
      `The image is ${meta.width}×${frameHeight} pixels; the limit is ${limits.maxInputPixels} pixels`,
    )
  }
  if (frames > limits.maxFrames) {
    throw new AppError(
      'IMAGE_TOO_MANY_FRAMES',
      `The image has ${frames} frames; the limit is ${limits.maxFrames}`,
    )
  }
  return { width: meta.autoOrient.width, height: meta.autoOrient.height, frames }
}

/**
 * The head, then the stored prefix, then the whole original; a read that came back shorter than it
 * asked for was already the whole file, so a failure there is final, not a reason to read again.
 */
async function stillMetadata(head: Buffer, load: LoadStored): Promise<Sized> {
  try {
    return await metadataOf(head)
  } catch (error) {
    if (head.length < HEAD_BYTES) throw error
  }
  const prefix = await load(HEADER_PREFIX_BYTES)
  try {
    return await metadataOf(prefix)
  } catch (error) {
    if (prefix.length < HEADER_PREFIX_BYTES) throw error
  }
  return metadataOf(await load())
}

type Sized = Metadata & { width: number; height: number }

async function metadataOf(bytes: Buffer): Promise<Sized> {
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata()
    if (!meta.width || !meta.height) throw new Error('The header has no dimensions')
    return meta as Sized
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', 'The image header could not be read', { cause: error })
  }
}
