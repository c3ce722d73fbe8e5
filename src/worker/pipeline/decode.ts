import sharp, { type OutputInfo } from 'sharp'
import type { LimitsConfig } from '../../config/schema.js'
import { AppError } from '../../errors/index.js'
import {
  createDecodeBudget,
  type DecodeBudget,
  wholeImageBytes,
} from '../../imaging/decode-budget.js'
import { sourceFailure } from '../../imaging/sharp-errors.js'

const UNBUDGETED = createDecodeBudget(0)

/** Decoded pixels, oriented and in 8-bit sRGB, at the largest size any variant needs. */
export interface DecodedImage {
  data: Buffer
  info: OutputInfo
  /** Oriented size of the original, before any downscale: variants never exceed it. */
  sourceWidth: number
  sourceHeight: number
  hasAlpha: boolean
}

/**
 * Decodes once (Immich's approach): auto-orient, convert to sRGB honouring the embedded ICC
 * profile, and shrink on load to `maxWidth`. Every variant is then resized from these pixels,
 * so a 50 MP JPEG is decoded once, not once per variant. The input is the original's bytes or its
 * file (a local store's), which libvips reads as it decodes instead of holding it whole. A source
 * whose decoder holds the whole image (a progressive JPEG) waits for room in `budget`. Any
 * failure here is the source's fault, mapped to a permanent error, except a file that is gone.
 */
export async function decodeSource(
  input: Buffer | string,
  limits: LimitsConfig,
  maxWidth: number,
  budget: DecodeBudget = UNBUDGETED,
): Promise<DecodedImage> {
  try {
    const image = sharp(input, {
      limitInputPixels: limits.maxInputPixels,
      failOn: 'error',
      autoOrient: true,
    })
    const meta = await image.metadata()
    if ((meta.pages ?? 1) > limits.maxFrames) {
      throw new AppError(
        'IMAGE_TOO_MANY_FRAMES',
        `The image has ${meta.pages} frames; the limit is ${limits.maxFrames}`,
      )
    }
    const sourceWidth = meta.autoOrient.width
    const sourceHeight = meta.autoOrient.height
    const { data, info } = await budget(wholeImageBytes(meta), () =>
      image
        .resize({ width: Math.min(maxWidth, sourceWidth), withoutEnlargement: true })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true }),
    )
    return { data, info, sourceWidth, sourceHeight, hasAlpha: info.channels === 4 }
  } catch (error) {
    // A missing file is like an original the store never had: a transient failure the job
    // retries, and then finds the image gone.
    throw sourceFailure(input, error)
  }
}
