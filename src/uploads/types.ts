import type { Readable } from 'node:stream'
import type { Image, Visibility } from '../domain/image.js'

/**
 * What this module needs of the image pipeline, and no more: start/ injects `images.upload`, so
 * a tus or direct upload passes the same inspection, limits, idempotency and dedupe as a plain
 * `POST /v1/images` without this module importing `images/`.
 */
export type UploadImage = (
  ownerId: string,
  body: Readable,
  options: {
    declaredType?: string | undefined
    idempotencyKey?: string | undefined
    visibility?: Visibility
    maxBytes?: number | undefined
  },
) => Promise<{ image: Image; created: boolean }>

/** Who uploads, and within which bounds (an upload token's, or none for a key or JWT). */
export interface Uploader {
  ownerId: string
  /** Below the server's limit for an upload token with `maxBytes`. */
  maxBytes: number
  /** Forced by an upload token; otherwise the client's choice. */
  visibility?: Visibility | undefined
  /** An upload token's id: each upload takes one of its uses (`claim`), refunded on refusal. */
  tokenId?: string | undefined
  /** Takes one of the token's uploads; UPLOAD_TOKEN_EXHAUSTED when none is left. */
  claim?: () => Promise<void>
}
