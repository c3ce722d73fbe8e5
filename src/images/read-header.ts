import sharp, { type Metadata } from 'sharp'
import type { LimitsConfig } from '../config/schema.js'
import { AppError } from '../errors/index.js'

export interface ImageHeader {
  width: number
  height: number
  frames: number
}

/**
 * Reads dimensions and frame count from the image header (libvips reads headers without decoding
 * pixels) and applies the pixel and frame limits, so a decompression bomb is refused while it is
 * still a few kilobytes. The head of the upload usually holds the header; `loadWhole` is the rare
 * fallback for headers pushed past it (huge EXIF or ICC blocks).
 */
export async function readHeader(
  head: Buffer,
  loadWhole: () => Promise<Buffer>,
  limits: LimitsConfig,
): Promise<ImageHeader> {
  const meta = await metadataOf(head).catch(async () => metadataOf(await loadWhole()))
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
