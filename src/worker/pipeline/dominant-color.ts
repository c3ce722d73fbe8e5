import sharp from 'sharp'
import type { DecodedImage } from './decode.js'

/** The downscale the colour is counted on: enough pixels for a stable answer, cheap to count. */
const SIDE = 64

/**
 * The image's most frequent colour as `#rrggbb` (sharp's `stats().dominant`: a 4096-bin RGB
 * histogram), for a client to paint the image's box before anything loads. Counted on a 64 px
 * downscale of the already decoded pixels, not the original: `stats()` reads the pipeline's
 * input, so the downscale is materialised first. Transparent areas are flattened onto white,
 * which is what a page behind them usually shows, instead of counting as their hidden RGB.
 */
export async function dominantColor(image: DecodedImage): Promise<string> {
  let small = sharp(image.data, { raw: image.info }).resize({
    width: SIDE,
    height: SIDE,
    fit: 'inside',
  })
  if (image.hasAlpha) small = small.flatten({ background: '#ffffff' })
  const { data, info } = await small.raw().toBuffer({ resolveWithObject: true })
  const { dominant } = await sharp(data, { raw: info }).stats()
  return `#${[dominant.r, dominant.g, dominant.b].map((c) => c.toString(16).padStart(2, '0')).join('')}`
}
