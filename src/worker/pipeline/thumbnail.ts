import sharp from 'sharp'
import type { DecodedImage } from './decode.js'

/** At most this many pixels a side: ThumbHash's own limit, and plenty for a colour count. */
const SIDE = 100

/** A small RGBA copy of the decoded image, 4 bytes per pixel. */
export interface Thumbnail {
  data: Buffer
  width: number
  height: number
}

/**
 * One downscale that the placeholder and the dominant colour both start from. Each used to
 * shrink the full decoded pixels (2048 px wide) on its own; that second pass over megabytes
 * was most of their cost.
 */
export async function makeThumbnail(image: DecodedImage): Promise<Thumbnail> {
  const { data, info } = await sharp(image.data, { raw: image.info })
    .resize({ width: SIDE, height: SIDE, fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height }
}
