import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { decodeSource } from './decode.js'
import { dominantColor } from './dominant-color.js'
import { makeThumbnail } from './thumbnail.js'

const LIMITS = { maxUploadBytes: 10_000_000, maxInputPixels: 50_000_000, maxFrames: 10 }

async function colourOf(png: Buffer) {
  return dominantColor(await makeThumbnail(await decodeSource(png, LIMITS, 1_000)))
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

/** An opaque 240×160 image: a gradient per channel under seeded noise, different per seed. */
function noisy(seed: number): Promise<Buffer> {
  const width = 240
  const height = 160
  const data = Buffer.alloc(width * height * 3)
  let state = seed
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      data[i] = Math.min(255, ((x * seed) % 256) + random() * 40)
      data[i + 1] = Math.min(255, ((y * 7 * seed) % 256) + random() * 40)
      data[i + 2] = Math.min(255, (((x + y) * 3) % 256) + random() * 40)
    }
  return sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
}

/** A 120×80 PNG of one colour. */
function block(colour: { r: number; g: number; b: number }): Promise<Buffer> {
  return sharp({ create: { width: 120, height: 80, channels: 3, background: colour } })
    .png()
    .toBuffer()
}

describe('dominantColor', () => {
  it('is the colour covering most of the image, as #rrggbb', async () => {
    const png = await twoColours({ r: 30, g: 120, b: 200 }, { r: 250, g: 20, b: 20 })
    const colour = await colourOf(png)
    expect(colour).toMatch(/^#[0-9a-f]{6}$/)
    // The histogram has 16 levels per channel: the answer is the bin's colour, near the input.
    const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(colour.slice(i, i + 2), 16))
    expect(Math.abs(r! - 30)).toBeLessThanOrEqual(16)
    expect(Math.abs(g! - 120)).toBeLessThanOrEqual(16)
    expect(Math.abs(b! - 200)).toBeLessThanOrEqual(16)
  })

  it('changes when the other colour covers more', async () => {
    const a = await colourOf(await twoColours({ r: 0, g: 0, b: 0 }, { r: 255, g: 255, b: 0 }))
    const b = await colourOf(await twoColours({ r: 255, g: 255, b: 0 }, { r: 0, g: 0, b: 0 }))
    expect(a).not.toBe(b)
  })

  it('does not count transparent pixels by their hidden colour', async () => {
    // Fully transparent black around an opaque red block: black must not win.
    const png = await twoColours({ r: 0, g: 0, b: 0, alpha: 0 }, { r: 220, g: 30, b: 30 }, 4)
    expect((await decodeSource(png, LIMITS, 1_000)).hasAlpha).toBe(true)
    // Flattened onto white, the large transparent area counts as white (the top bin: #f8f8f8).
    expect(await colourOf(png)).toBe('#f8f8f8')
  })

  it('names the bin sharp’s stats().dominant names, among many bins in use', async () => {
    // Noise over gradients, as in a photograph, with a block of one colour that clearly wins.
    // No channel of it is a multiple of 16: sharp 0.35.5 counts such a value one bin low (a
    // block of red or green 80 comes back as 72, not 88), which this count does not copy.
    for (const seed of [1, 2, 3, 4]) {
      const red = 40 * seed + 3
      const png = await sharp(await noisy(seed))
        .composite([{ input: await block({ r: red, g: 200, b: 90 }), left: 20, top: 20 }])
        .png()
        .toBuffer()
      const thumbnail = await makeThumbnail(await decodeSource(png, LIMITS, 1_000))
      const { dominant } = await sharp(thumbnail.data, {
        raw: { width: thumbnail.width, height: thumbnail.height, channels: 4 },
      }).stats()
      const hex = (c: number) => c.toString(16).padStart(2, '0')
      expect(dominantColor(thumbnail)).toBe(
        `#${hex(dominant.r)}${hex(dominant.g)}${hex(dominant.b)}`,
      )
    }
  })

  it('is the fullest bin, counted exactly, with translucent pixels composited over white', () => {
    // Three pixels in the bin of (0x20, 0x40, 0x60), two opaque white ones; two pixels of
    // (0, 0, 0) at alpha 0x80 land in the bin of (0x7f, 0x7f, 0x7f), one short of the first.
    const pixels = [
      [0x20, 0x40, 0x60, 255],
      [0x21, 0x42, 0x63, 255],
      [0x2f, 0x4f, 0x6f, 255],
      [255, 255, 255, 255],
      [255, 255, 255, 255],
      [0, 0, 0, 0x80],
      [0, 0, 0, 0x80],
    ]
    const thumbnail = { data: Buffer.from(pixels.flat()), width: pixels.length, height: 1 }
    expect(dominantColor(thumbnail)).toBe('#284868')
    pixels.push([0, 0, 0, 0x80], [0, 0, 0, 0x80])
    const more = { data: Buffer.from(pixels.flat()), width: pixels.length, height: 1 }
    expect(dominantColor(more)).toBe('#787878')
  })

  it('gives a tie to the lowest bin, and rounds a composite over white to the nearest level', () => {
    const rgba = (pixels: number[][]) => ({
      data: Buffer.from(pixels.flat()),
      width: pixels.length,
      height: 1,
    })
    // Two bins with two pixels each: the lower one (0x10…) wins, in either order.
    const a = [0x10, 0x10, 0x10, 255]
    const b = [0x30, 0x30, 0x30, 255]
    expect(dominantColor(rgba([b, b, a, a]))).toBe('#181818')
    expect(dominantColor(rgba([a, b, a, b]))).toBe('#181818')
    // 0x1f at alpha 254 over white: (31·254 + 255·1) / 255 = 31.88, which rounds to 32, the next
    // bin (0x20…, #282828); flooring would keep it at 31, in the bin below (#181818).
    const translucent = [0x1f, 0x1f, 0x1f, 254]
    const opaque = [0x40, 0x40, 0x40, 255]
    expect(dominantColor(rgba([translucent, translucent, opaque]))).toBe('#282828')
  })

  it('names the darkest bin #080808, two hex digits per channel', async () => {
    const png = await twoColours({ r: 2, g: 3, b: 4 }, { r: 250, g: 250, b: 250 })
    expect(await colourOf(png)).toBe('#080808')
  })
})
