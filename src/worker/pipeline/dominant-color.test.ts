import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { decodeSource } from './decode.js'
import { dominantColor } from './dominant-color.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }

async function decoded(png: Buffer) {
  return decodeSource(png, LIMITS, 1_000)
}

/** A canvas of one colour with a smaller block of another: the larger area must win. */
async function twoColours(
  background: { r: number; g: number; b: number; alpha?: number },
  block: { r: number; g: number; b: number },
  channels: 3 | 4 = 3,
): Promise<Buffer> {
  const patch = await sharp({ create: { width: 100, height: 80, channels: 3, background: block } })
    .png()
    .toBuffer()
  return sharp({ create: { width: 400, height: 200, channels, background } })
    .composite([{ input: patch, left: 10, top: 10 }])
    .png()
    .toBuffer()
}

describe('dominantColor', () => {
  it('is the colour covering most of the image, as #rrggbb', async () => {
    const png = await twoColours({ r: 30, g: 120, b: 200 }, { r: 250, g: 20, b: 20 })
    const colour = await dominantColor(await decoded(png))
    expect(colour).toMatch(/^#[0-9a-f]{6}$/)
    // The histogram has 16 levels per channel: the answer is the bin's colour, near the input.
    const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(colour.slice(i, i + 2), 16))
    expect(Math.abs(r! - 30)).toBeLessThanOrEqual(16)
    expect(Math.abs(g! - 120)).toBeLessThanOrEqual(16)
    expect(Math.abs(b! - 200)).toBeLessThanOrEqual(16)
  })

  it('changes when the other colour covers more', async () => {
    const a = await dominantColor(
      await decoded(await twoColours({ r: 0, g: 0, b: 0 }, { r: 255, g: 255, b: 0 })),
    )
    const b = await dominantColor(
      await decoded(await twoColours({ r: 255, g: 255, b: 0 }, { r: 0, g: 0, b: 0 })),
    )
    expect(a).not.toBe(b)
  })

  it('does not count transparent pixels by their hidden colour', async () => {
    // Fully transparent black around an opaque red block: black must not win.
    const png = await twoColours({ r: 0, g: 0, b: 0, alpha: 0 }, { r: 220, g: 30, b: 30 }, 4)
    const image = await decoded(png)
    expect(image.hasAlpha).toBe(true)
    // Flattened onto white, the large transparent area counts as white (the top bin: #f8f8f8).
    expect(await dominantColor(image)).toMatch(/^#f[0-9a-f]f[0-9a-f]f[0-9a-f]$/)
  })
})
