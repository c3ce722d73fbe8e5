import { createHash } from 'node:crypto'
import sharp, { type Sharp } from 'sharp'
import type { ProcessingConfig } from '../../config/schema.js'
import type { OutputFormat } from '../../domain/formats.js'
import type { DecodedImage } from './decode.js'
import type { Overlay } from './watermark.js'

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
  const size = targetSize(image, width)
  // sharp applies composite after resize in the same pipeline; a mark taller than a very wide,
  // short variant would be refused by libvips, so such a variant stays unmarked.
  let pipeline = sharp(image.data, { raw: image.info }).resize(size)
  if (overlay && overlay.raw.height <= size.height) pipeline = pipeline.composite([overlay])
  if (format === 'jpeg' && image.hasAlpha) pipeline = pipeline.flatten({ background: '#ffffff' })
  const { data, info } = await withFormat(pipeline, format, quality).toBuffer({
    resolveWithObject: true,
  })
  return {
    data,
    width: info.width,
    height: info.height,
    etag: `"${createHash('sha256').update(data).digest('base64url').slice(0, 32)}"`,
  }
}

function withFormat(
  pipeline: Sharp,
  format: OutputFormat,
  quality: ProcessingConfig['quality'],
): Sharp {
  switch (format) {
    case 'webp':
      return pipeline.webp({ quality: quality.webp })
    case 'jpeg':
      return pipeline.jpeg({ quality: quality.jpeg, mozjpeg: false, progressive: true })
    case 'avif':
      return pipeline.avif({ quality: quality.avif, effort: 4 })
    case 'png':
      return pipeline.png({ compressionLevel: 6 })
  }
}

/** Width-only resize, never enlarged; the height keeps the aspect ratio. */
function targetSize(image: DecodedImage, width: number): { width: number; height: number } {
  const w = Math.min(width, image.info.width)
  return { width: w, height: Math.max(1, Math.round((image.sourceHeight * w) / image.sourceWidth)) }
}
