import { randomBytes } from 'node:crypto'
import { BUCKET_COUNT } from './bucket.js'

/**
 * Image ids: 10 chars of millisecond time (sortable), 3 chars of bucket (so an id routes to its
 * shard without a lookup) and 16 chars of randomness (80 bits: ids appear in public URLs and
 * must not be guessable). Crockford base32, lower case: URL-safe and unambiguous.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
const TIME_CHARS = 10
const BUCKET_CHARS = 3
const RANDOM_CHARS = 16
export const ID_LENGTH = TIME_CHARS + BUCKET_CHARS + RANDOM_CHARS
const ID_PATTERN = new RegExp(`^[${ALPHABET}]{${ID_LENGTH}}$`)

export function newImageId(bucket: number, now = Date.now()): string {
  const random = BigInt(`0x${randomBytes(10).toString('hex')}`)
  return (
    encode(BigInt(now), TIME_CHARS) +
    encode(BigInt(bucket), BUCKET_CHARS) +
    encode(random, RANDOM_CHARS)
  )
}

export function isImageId(value: string): boolean {
  return ID_PATTERN.test(value)
}

/** The bucket embedded in an id, or null when the id is malformed (callers answer 404). */
export function bucketOfId(id: string): number | null {
  if (!isImageId(id)) return null
  const bucket = Number(decode(id.slice(TIME_CHARS, TIME_CHARS + BUCKET_CHARS)))
  return bucket < BUCKET_COUNT ? bucket : null
}

function encode(value: bigint, chars: number): string {
  let out = ''
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out
    value >>= 5n
  }
  return out
}

function decode(text: string): bigint {
  let value = 0n
  for (const ch of text) value = (value << 5n) | BigInt(ALPHABET.indexOf(ch))
  return value
}
