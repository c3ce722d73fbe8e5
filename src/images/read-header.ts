import sharp, { type Metadata } from 'sharp'
import type { LimitsConfig } from '../config/schema.js'
import type { InputFormat } from '../domain/formats.js'
import { AppError } from '../errors/index.js'

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
  const meta = STILL.has(format)
    ? await metadataOf(head)
        .catch(async () => metadataOf(await load(HEADER_PREFIX_BYTES)))
        .catch(async () => metadataOf(await load()))
    : await metadataOf(await load())
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

async function metadataOf(bytes: Buffer): Promise<Metadata & { width: number; height: number }> {
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata()
    if (!meta.width || !meta.height) throw new Error('The header has no dimensions')
    return meta as Metadata & { width: number; height: number }
  } catch (error) {
    throw new AppError('IMAGE_UNDECODABLE', 'The image header could not be read', { cause: error })
  }
}
