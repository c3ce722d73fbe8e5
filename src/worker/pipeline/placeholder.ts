import { encode as encodeBlurhash } from 'blurhash'
import sharp from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'
import type { ProcessingConfig } from '../../config/schema.js'
import type { Placeholder } from '../../domain/image.js'
import type { DecodedImage } from './decode.js'

/**
 * A tiny placeholder to show while the real variant loads, with its kind (the setting may change
 * between images). ThumbHash wants at most 100×100 RGBA; BlurHash is computed from 32 px and 4×3
 * components, the sizes its authors recommend.
 */
export async function makePlaceholder(
  kind: ProcessingConfig['placeholder'],
  image: DecodedImage,
): Promise<Placeholder | null> {
  if (kind === 'none') return null
  const side = kind === 'thumbhash' ? 100 : 32
  const { data, info } = await sharp(image.data, { raw: image.info })
    .resize({ width: side, height: side, fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  const pixels = new Uint8ClampedArray(data.buffer, data.byteOffset, data.length)
  if (kind === 'blurhash')
    return { type: 'blurhash', value: encodeBlurhash(pixels, info.width, info.height, 4, 3) }
  const value = Buffer.from(rgbaToThumbHash(info.width, info.height, pixels)).toString('base64')
  return { type: 'thumbhash', value }
}
