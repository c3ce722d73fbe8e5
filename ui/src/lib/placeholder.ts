import { decode as decodeBlurHash } from 'blurhash'
import { rgbaToDataURL, thumbHashToDataURL } from 'thumbhash'

export interface Placeholder {
  type: string
  value: string
}

const cache = new Map<string, string | null>()

/**
 * The API's placeholder as a PNG data URL, shown while the variant loads: a ThumbHash decodes
 * straight to one, a BlurHash to pixels first. Decoded once per value; null when unreadable.
 */
export function placeholderUrl(placeholder: Placeholder | null | undefined): string | null {
  if (!placeholder) return null
  const key = `${placeholder.type}:${placeholder.value}`
  if (!cache.has(key)) cache.set(key, decode(placeholder))
  return cache.get(key)!
}

function decode({ type, value }: Placeholder): string | null {
  try {
    if (type === 'thumbhash')
      return thumbHashToDataURL(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)))
    if (type === 'blurhash') return rgbaToDataURL(32, 32, decodeBlurHash(value, 32, 32))
  } catch {
    // A placeholder that does not decode only costs the blur: the variant still loads.
  }
  return null
}
