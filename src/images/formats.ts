/**
 * Accepted input formats, recognised by their magic bytes only: never by the file name or the
 * client's Content-Type. Each format says how to tell a complete file from a cut-off one by its
 * last bytes, so a truncated upload is refused before it is queued.
 */
export type InputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'tiff'

export const INPUT_MIME: Record<InputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tiff: 'image/tiff',
}

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
