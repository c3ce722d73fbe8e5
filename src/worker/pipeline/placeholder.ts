import { encode as encodeBlurhash } from 'blurhash'
import sharp from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'
import type { ProcessingConfig } from '../../config/schema.js'
import type { Placeholder } from '../../domain/image.js'
import type { Thumbnail } from './thumbnail.js'

/** BlurHash's authors recommend computing it from about 32 px. */
const BLURHASH_SIDE = 32

/**
 * A tiny placeholder to show while the real variant loads, with its kind (the setting may change
 * between images). ThumbHash takes the thumbnail as it is (at most 100×100 RGBA, its limit);
 * BlurHash is computed from 32 px and 4×3 components, the sizes its authors recommend.
 */
export async function makePlaceholder(
  kind: ProcessingConfig['placeholder'],
  thumbnail: Thumbnail,
): Promise<Placeholder | null> {
  if (kind === 'none') return null
  if (kind === 'thumbhash') {
    const hash = rgbaToThumbHash(thumbnail.width, thumbnail.height, pixelsOf(thumbnail.data))
    return { type: 'thumbhash', value: Buffer.from(hash).toString('base64') }
  }
  const { data, info } = await sharp(thumbnail.data, {
    raw: { width: thumbnail.width, height: thumbnail.height, channels: 4 },
  })
    .resize({ width: BLURHASH_SIDE, height: BLURHASH_SIDE, fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { type: 'blurhash', value: encodeBlurhash(pixelsOf(data), info.width, info.height, 4, 3) }
}

function pixelsOf(data: Buffer): Uint8ClampedArray {
  return new Uint8ClampedArray(data.buffer, data.byteOffset, data.length)
}
