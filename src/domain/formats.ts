/**
 * The one registry of image formats: what each is called, its content type, its URL extension and
 * the other names people use for it, and whether Pixelflow reads it, writes it, or both. Every
 * other module asks here instead of keeping its own table.
 */
interface FormatInfo {
  contentType: string
  /** The extension in variant URLs: `.jpg` is what people and CDNs expect. */
  extension: string
  /** Other spellings accepted in URLs and Content-Type headers. */
  aliases: { extensions: readonly string[]; contentTypes: readonly string[] }
  output: boolean
  /**
   * The largest width or height the format (as libvips writes it) can hold. The worker keeps every
   * variant inside it: past it the encoder refuses the image, whatever the retries.
   */
  maxDimension: number
}

export const FORMATS = {
  jpeg: {
    contentType: 'image/jpeg',
    extension: 'jpg',
    aliases: { extensions: ['jpeg'], contentTypes: ['image/jpg', 'image/pjpeg'] },
    output: true,
    maxDimension: 65_535, // 16-bit size fields in the frame header
  },
  png: {
    contentType: 'image/png',
    extension: 'png',
    aliases: { extensions: [], contentTypes: ['image/x-png'] },
    output: true,
    maxDimension: 1_000_000, // libpng's default user limit (the format's own is 2^31−1)
  },
  webp: {
    contentType: 'image/webp',
    extension: 'webp',
    aliases: { extensions: [], contentTypes: [] },
    output: true,
    maxDimension: 16_383, // 14-bit size fields in the VP8/VP8L headers
  },
  avif: {
    contentType: 'image/avif',
    extension: 'avif',
    aliases: { extensions: [], contentTypes: [] },
    output: true,
    maxDimension: 16_384, // libheif's default maximum side for AV1 images
  },
  gif: {
    contentType: 'image/gif',
    extension: 'gif',
    aliases: { extensions: [], contentTypes: [] },
    output: false,
    maxDimension: 65_535, // 16-bit logical screen size
  },
  tiff: {
    contentType: 'image/tiff',
    extension: 'tiff',
    aliases: { extensions: ['tif'], contentTypes: [] },
    output: false,
    maxDimension: 4_294_967_295, // 32-bit ImageWidth/ImageLength
  },
} as const satisfies Record<string, FormatInfo>

/** Every format Pixelflow reads (recognised by magic bytes). */
export type Format = keyof typeof FORMATS
/** The formats variants are written in. */
export type OutputFormat = {
  [F in Format]: (typeof FORMATS)[F]['output'] extends true ? F : never
}[Format]
export const OUTPUT_FORMATS = Object.keys(FORMATS).filter(
  (f) => FORMATS[f as Format].output,
) as OutputFormat[]
/** Accepted input formats: all of them. */
export type InputFormat = Format

export function isFormat(value: string): value is Format {
  return Object.hasOwn(FORMATS, value)
}

export function isOutputFormat(value: string): value is OutputFormat {
  return isFormat(value) && FORMATS[value].output
}

export function contentTypeOf(format: Format): string {
  return FORMATS[format].contentType
}

export function extensionOf(format: Format): string {
  return FORMATS[format].extension
}

export function maxDimensionOf(format: Format): number {
  return FORMATS[format].maxDimension
}

const BY_EXTENSION = new Map<string, Format>()
const BY_CONTENT_TYPE = new Map<string, Format>()
for (const [name, info] of Object.entries(FORMATS) as [Format, FormatInfo][]) {
  for (const ext of [name, info.extension, ...info.aliases.extensions]) BY_EXTENSION.set(ext, name)
  for (const type of [info.contentType, ...info.aliases.contentTypes])
    BY_CONTENT_TYPE.set(type, name)
}

/** `jpg`, `jpeg` → jpeg; an unknown extension → null. */
export function formatOfExtension(extension: string): Format | null {
  return BY_EXTENSION.get(extension.toLowerCase()) ?? null
}

/** `image/jpeg`, `image/pjpeg` → jpeg; parameters and case are ignored; unknown → null. */
export function formatOfContentType(contentType: string): Format | null {
  return BY_CONTENT_TYPE.get(contentType.split(';')[0]!.trim().toLowerCase()) ?? null
}

/**
 * Accepted input formats are recognised by their magic bytes only: never by the file name or the
 * client's Content-Type. Each format says how to tell a complete file from a cut-off one by its
 * last bytes, so a truncated upload is refused before it is queued.
 */
/** Enough bytes to see every signature, including an AVIF ftyp box with its brand list. */
export const SNIFF_BYTES = 64

const ascii = (bytes: Buffer, start: number, end: number) => bytes.toString('latin1', start, end)

export function sniffFormat(head: Buffer): InputFormat | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg'
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png'
  if (/^GIF8[79]a$/.test(ascii(head, 0, 6))) return 'gif'
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp'
  if (ascii(head, 0, 4) === 'II*\0' || ascii(head, 0, 4) === 'MM\0*') return 'tiff'
  if (ascii(head, 4, 8) === 'ftyp' && isAvifBrand(head)) return 'avif'
  return null
}

/** AVIF is an ISO-BMFF file whose major or a compatible brand is avif/avis (HEIC is not accepted). */
function isAvifBrand(head: Buffer): boolean {
  const boxSize = Math.min(head.readUInt32BE(0), head.length)
  for (let at = 8; at + 4 <= boxSize; at += 4) {
    if (at === 12) continue // minor version, not a brand
    const brand = ascii(head, at, at + 4)
    if (brand === 'avif' || brand === 'avis') return true
  }
  return false
}

/**
 * Whether the file ends as a complete file of its format does. `tail` is the last bytes seen
 * (up to TAIL_BYTES); `size` the whole length. Formats without a trailer (AVIF, TIFF) are
 * checked by the worker's full decode instead.
 */
export const TAIL_BYTES = 1024

export function looksComplete(
  format: InputFormat,
  tail: Buffer,
  size: number,
  head: Buffer,
): boolean {
  switch (format) {
    case 'jpeg':
      // EOI marker; cameras may append a few bytes after it, so look anywhere in the tail.
      return tail.includes(Buffer.from([0xff, 0xd9]))
    case 'png':
      return tail.includes(Buffer.from('IEND', 'latin1'))
    case 'gif':
      return tail.at(-1) === 0x3b
    case 'webp':
      return head.length >= 8 && head.readUInt32LE(4) + 8 <= size
    case 'avif':
    case 'tiff':
      return true
  }
}

/** The formats `Accept` negotiation picks from, best first. */
export type NegotiatedFormat = 'avif' | 'webp' | 'jpeg'

/**
 * The format for a negotiated URL (`f:auto`, or a preset URL without an extension): AVIF when the
 * client takes it, else WebP, else JPEG. Only the presence of each type counts, never q-values:
 * the shipped nginx and CloudFront configs reduce `Accept` to the same one token with the same
 * rule for their cache keys, and they can only match substrings.
 */
export function negotiateFormat(accept: string | undefined): NegotiatedFormat {
  const header = (accept ?? '').toLowerCase()
  if (header.includes('image/avif')) return 'avif'
  if (header.includes('image/webp')) return 'webp'
  return 'jpeg'
}
