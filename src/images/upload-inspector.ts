import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { type InputFormat, SNIFF_BYTES, sniffFormat, TAIL_BYTES } from '../domain/formats.js'
import { AppError } from '../errors/index.js'

/**
 * Bytes kept from the start of an upload for reading the image header without decoding it. A
 * JPEG's frame header follows its EXIF and ICC segments; every photo of the bench corpus reads
 * from its first 64 KB. A header pushed further is read from the stored file (read-header.ts:
 * its first HEADER_PREFIX_BYTES, then all of it), so a smaller head costs only that rare second
 * read. It was 1 MB, then 256 KB: the head lives as long as the upload, so under load it outlives
 * the scavenges the body's buffers force and is promoted with it. From 256 to 64 KB, three
 * alternating pairs of the upload bench: major collections 16–17 → 12–17 per 1,000 uploads, CPU
 * 10.4–11.7 → 8.3–10.8 ms per upload, p99 443–546 → 385–458 ms (bench/RESULTS.md, 2026-12-06).
 */
export const HEAD_BYTES = 64 * 1024

export interface InspectedUpload {
  format: InputFormat
  size: number
  sha256: string
  head: Buffer
  tail: Buffer
}

/**
 * A pass-through stream that sits between the request and the object store. It refuses an
 * unknown format as soon as the first bytes arrive and an oversized body as soon as it passes the
 * limit (erroring the stream, so the store discards its temp file), and it hashes, counts and
 * keeps the head and tail as the bytes flow: the body is never buffered whole.
 */
export class UploadInspector extends Transform {
  #hash = createHash('sha256')
  #size = 0
  #head: Buffer[] = []
  #headSize = 0
  #tail = Buffer.alloc(0)
  #format: InputFormat | null = null
  readonly #maxBytes: number

  constructor(maxBytes: number) {
    super()
    this.#maxBytes = maxBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#size += chunk.length
    if (this.#size > this.#maxBytes) {
      done(new AppError('UPLOAD_TOO_LARGE', `The upload exceeds ${this.#maxBytes} bytes`))
      return
    }
    this.#hash.update(chunk)
    this.#keepHead(chunk)
    this.#tail = Buffer.concat([this.#tail, chunk.subarray(-TAIL_BYTES)]).subarray(-TAIL_BYTES)
    if (this.#format === null && this.#headSize >= SNIFF_BYTES) {
      const error = this.#sniff()
      if (error) {
        done(error)
        return
      }
    }
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    if (this.#size === 0) {
      done(new AppError('EMPTY_UPLOAD', 'The upload is empty'))
      return
    }
    done(this.#format === null ? this.#sniff() : null)
  }

  /** Valid once the stream has finished without error. */
  result(): InspectedUpload {
    return {
      format: this.#format as InputFormat,
      size: this.#size,
      sha256: this.#hash.digest('hex'),
      head: Buffer.concat(this.#head),
      tail: this.#tail,
    }
  }

  #keepHead(chunk: Buffer): void {
    if (this.#headSize >= HEAD_BYTES) return
    const part = chunk.subarray(0, HEAD_BYTES - this.#headSize)
    this.#head.push(part)
    this.#headSize += part.length
  }

  #sniff(): AppError | null {
    this.#format = sniffFormat(Buffer.concat(this.#head))
    if (this.#format) return null
    return new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Not an accepted image format (JPEG, PNG, WebP, AVIF, GIF, TIFF)',
    )
  }
}
