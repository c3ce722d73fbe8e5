import { createHash } from 'node:crypto'
import sharp, { type OutputInfo } from 'sharp'
import type { ProcessingConfig } from '../../config/schema.js'
import { maxDimensionOf, type OutputFormat } from '../../domain/formats.js'
import { withFormat } from '../../imaging/format.js'
import { encodeError } from '../../imaging/sharp-errors.js'
import type { Overlay } from '../../imaging/watermark.js'
import type { DecodedImage } from './decode.js'

export interface EncodedVariant {
  data: Buffer
  width: number
  height: number
  /** Strong ETag: a digest of the bytes, so equal bytes always get the same tag. */
  etag: string
}

/** Resizes the decoded pixels to `width` (never up), marks them, and encodes one format. */
export async function encodeVariant(
  image: DecodedImage,
  width: number,
  format: OutputFormat,
  quality: ProcessingConfig['quality'],
  overlay: Overlay | null,
): Promise<EncodedVariant> {
  const size = variantSize(image, width, format)
  // sharp applies composite after resize in the same pipeline; a mark larger than the variant
  // (taller than a very wide, short one, or wider than one narrowed to fit its format's limits)
  // would be refused by libvips, so such a variant stays unmarked.
  let pipeline = sharp(image.data, { raw: image.info }).resize(size)
  if (overlay && overlay.raw.height <= size.height && overlay.raw.width <= size.width)
    pipeline = pipeline.composite([overlay])
  if (format === 'jpeg' && image.hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' })
  let encoded: { data: Buffer; info: OutputInfo }
  try {
    encoded = await withFormat(pipeline, format, quality).toBuffer({ resolveWithObject: true })
  } catch (error) {
    throw encodeError(error, format)
  }
  const { data, info } = encoded
  return {
    data,
    width: info.width,
    height: info.height,
    etag: `"${createHash('sha256').update(data).digest('base64url').slice(0, 32)}"`,
  }
}

/**
 * Width-only resize, never enlarged; the height keeps the aspect ratio. Then both sides are kept
 * inside the format's largest (WebP 16383, AVIF 16384): a 1000×20000 PNG becomes an 819×16383
 * WebP instead of an encoder error that no retry can fix. Neither side is ever 0.
 */
export function variantSize(
  image: Pick<DecodedImage, 'info' | 'sourceWidth' | 'sourceHeight'>,
  width: number,
  format: OutputFormat,
): { width: number; height: number } {
  const { sourceWidth, sourceHeight } = image
  const max = maxDimensionOf(format)
  let w = Math.min(width, image.info.width, max)
  let h = Math.max(1, Math.round((sourceHeight * w) / sourceWidth))
  if (h > max) {
    h = max
    w = Math.max(1, Math.min(w, Math.floor((sourceWidth * max) / sourceHeight)))
  }
  return { width: w, height: h }
}
