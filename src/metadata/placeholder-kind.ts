import type { PlaceholderKind } from '../domain/image.js'

/**
 * The kind of a placeholder stored before 0008 kept kinds beside values (the setting may have
 * changed since, so it cannot be taken from the config). A BlurHash is base83: it almost always
 * holds a character base64 lacks. A ThumbHash is base64 whose header says how many bytes follow:
 * a string that decodes to exactly that many is a ThumbHash. A BlurHash made only of characters
 * base64 shares (about 1 in 1,000) passes that check by chance about 1 time in 20: about 1 legacy
 * BlurHash in 20,000 is reported as a ThumbHash. Rows written since 0008 store their kind.
 */
export function legacyPlaceholderKind(value: string): PlaceholderKind {
  if (/[^A-Za-z0-9+/=]/.test(value) || value.length % 4 !== 0) return 'blurhash'
  const bytes = Buffer.from(value, 'base64')
  return bytes.length >= 5 && thumbHashLength(bytes) === bytes.length ? 'thumbhash' : 'blurhash'
}

/** The byte length a ThumbHash's header implies (the format as thumbhash's encoder writes it). */
function thumbHashLength(hash: Buffer): number {
  const header24 = hash[0]! | (hash[1]! << 8) | (hash[2]! << 16)
  const header16 = hash[3]! | (hash[4]! << 8)
  const hasAlpha = (header24 >> 23) & 1
  const isLandscape = header16 >> 15
  const lx = Math.max(3, isLandscape ? (hasAlpha ? 5 : 7) : header16 & 7)
  const ly = Math.max(3, isLandscape ? header16 & 7 : hasAlpha ? 5 : 7)
  const factors = acCount(lx, ly) + acCount(3, 3) + acCount(3, 3) + (hasAlpha ? acCount(5, 5) : 0)
  return (hasAlpha ? 6 : 5) + Math.ceil(factors / 2)
}

/** The AC factors of one channel: the DCT's triangle without its DC term. */
function acCount(nx: number, ny: number): number {
  let count = 0
  for (let cy = 0; cy < ny; cy++) for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) count++
  return count
}
