import { encode as encodeBlurhash } from 'blurhash'
import sharp from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'
import type { ProcessingConfig } from '../../config/schema.js'
import type { DecodedImage } from './decode.js'

/**
 * A tiny placeholder to show while the real variant loads. ThumbHash wants at most 100×100
 * RGBA; BlurHash is computed from 32 px and 4×3 components, the sizes its authors recommend.
 */
export async function makePlaceholder(
  kind: ProcessingConfig['placeholder'],
  image: DecodedImage,
): Promise<string | null> {
  if (kind === 'none') return null
  const side = kind === 'thumbhash' ? 100 : 32
  const { data, info } = await sharp(image.data, { raw: image.info })
    .resize({ width: side, height: side, fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  const pixels = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length)
  if (kind === 'blurhash') return encodeBlurhash(pixels, info.width, info.height, 4, 3)
  return Buffer.from(rgbaToThumbHash(info.width, info.height, pixels)).toString('base64')
}
