import sharp, { type Sharp } from 'sharp'
import { describe, expect, it } from 'vitest'
import { type InputFormat, looksComplete, SNIFF_BYTES, sniffFormat, TAIL_BYTES } from './formats.js'

/** A noisy 160×120 picture, so every encoder produces several kilobytes (more than TAIL_BYTES). */
function picture(): Sharp {
  const data = Buffer.alloc(160 * 120 * 3)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 5) * 31) & 255
  return sharp(data, { raw: { width: 160, height: 120, channels: 3 } })
}

const ENCODERS: Record<InputFormat, (s: Sharp) => Sharp> = {
  jpeg: (s) => s.jpeg(),
  png: (s) => s.png(),
  webp: (s) => s.webp(),
  gif: (s) => s.gif(),
  avif: (s) => s.avif({ effort: 0 }),
  tiff: (s) => s.tiff(),
}
const FORMATS = Object.keys(ENCODERS) as InputFormat[]
const files = Object.fromEntries(
  await Promise.all(
    FORMATS.map(async (format) => [format, await ENCODERS[format](picture()).toBuffer()] as const),
  ),
) as Record<InputFormat, Buffer>

/** An ISO-BMFF ftyp box: major brand, minor version, compatible brands. */
function ftyp(major: string, minor: string, compatible: string[]): Buffer {
  const body = Buffer.from(`ftyp${major}${minor}${compatible.join('')}`, 'latin1')
  const size = Buffer.alloc(4)
  size.writeUInt32BE(body.length + 4)
  return Buffer.concat([size, body, Buffer.alloc(40)])
}

const complete = (format: InputFormat, bytes: Buffer) =>
  looksComplete(format, bytes.subarray(-TAIL_BYTES), bytes.length, bytes.subarray(0, SNIFF_BYTES))

describe('sniffFormat', () => {
  it.each(FORMATS)('recognises %s made by sharp from its first bytes', (format) => {
    expect(sniffFormat(files[format].subarray(0, SNIFF_BYTES))).toBe(format)
  })

  it('recognises AVIF by a compatible brand, but not by the minor version', () => {
    expect(sniffFormat(ftyp('mif1', '\0\0\0\0', ['miaf', 'avif']))).toBe('avif')
    expect(sniffFormat(ftyp('avis', '\0\0\0\0', ['msf1']))).toBe('avif')
    expect(sniffFormat(ftyp('heic', 'avif', ['mif1']))).toBeNull()
  })

  it('refuses HEIC, text and other formats', () => {
    expect(sniffFormat(ftyp('heic', '\0\0\0\0', ['mif1', 'heic']))).toBeNull()
    expect(sniffFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBeNull()
    expect(
      sniffFormat(Buffer.from('just some text, nothing to see here, not an image at all')),
    ).toBeNull()
    expect(sniffFormat(Buffer.from('BM\x36\x00\x00\x00\x00\x00', 'latin1'))).toBeNull()
    expect(sniffFormat(Buffer.from('RIFF\x10\x00\x00\x00WAVEfmt ', 'latin1'))).toBeNull()
  })

  it('answers null for very short input without throwing', () => {
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from([0xff]),
      Buffer.from([0xff, 0xd8]),
      Buffer.from('\0\0\0\x20ftyp', 'latin1'),
    ]) {
      expect(sniffFormat(bytes)).toBeNull()
    }
  })
})

describe('looksComplete', () => {
  it.each(FORMATS)('is true for a complete %s file', (format) => {
    expect(files[format].length).toBeGreaterThan(TAIL_BYTES)
    expect(complete(format, files[format])).toBe(true)
  })

  it('is false for a JPEG cut in half, true with bytes after its EOI', () => {
    const jpeg = files.jpeg
    expect(complete('jpeg', jpeg.subarray(0, jpeg.length >> 1))).toBe(false)
    expect(complete('jpeg', jpeg.subarray(0, -2))).toBe(false)
    expect(complete('jpeg', Buffer.concat([jpeg, Buffer.alloc(16)]))).toBe(true)
  })

  it('is false for a PNG without its IEND chunk', () => {
    expect(complete('png', files.png.subarray(0, -12))).toBe(false)
  })

  it('is false for a GIF without its trailer', () => {
    expect(complete('gif', files.gif.subarray(0, -1))).toBe(false)
  })

  it('is false for a WebP shorter than its RIFF size', () => {
    expect(complete('webp', files.webp.subarray(0, -1))).toBe(false)
    expect(complete('webp', files.webp.subarray(0, files.webp.length >> 1))).toBe(false)
  })
})
