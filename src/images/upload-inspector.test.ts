import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { TAIL_BYTES } from '../domain/formats.js'
import { UploadInspector } from './upload-inspector.js'

const MB = 1024 * 1024

function chunked(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return chunks
}

/** Runs chunks through an inspector into a sink; resolves with what came out the other side. */
async function inspect(chunks: Buffer[], maxBytes = MB) {
  const inspector = new UploadInspector(maxBytes)
  const out: Buffer[] = []
  const sink = new Writable({ write: (chunk, _enc, done) => (out.push(chunk), done()) })
  await pipeline(Readable.from(chunks), inspector, sink)
  return { result: inspector.result(), output: Buffer.concat(out) }
}

/** The error the inspector emits, or null if it has not emitted one by the next macrotask. */
async function errorSoon(inspector: UploadInspector): Promise<(Error & { code?: string }) | null> {
  return new Promise((resolve) => {
    inspector.once('error', resolve)
    setTimeout(() => resolve(null), 20)
  })
}

describe('UploadInspector', () => {
  it('refuses unknown bytes as soon as 64 bytes have arrived, without waiting for the end', async () => {
    const inspector = new UploadInspector(MB)
    inspector.resume()
    const text = Buffer.from(
      'This is a plain text file and certainly not any kind of image. '.repeat(4),
    )
    inspector.write(text.subarray(0, 40))
    inspector.write(text.subarray(40, 63))
    expect(await errorSoon(inspector)).toBeNull()
    inspector.write(text.subarray(63, 64)) // the stream is never ended
    expect(await errorSoon(inspector)).toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      statusCode: 415,
    })
  })

  it('refuses a short unknown upload at its end', async () => {
    await expect(inspect([Buffer.from('hello')])).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
    })
  })

  it('refuses more than maxBytes, as soon as the limit is passed', async () => {
    const inspector = new UploadInspector(1000)
    inspector.resume()
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(992),
    ])
    inspector.write(png)
    expect(await errorSoon(inspector)).toBeNull()
    inspector.write(Buffer.alloc(1))
    expect(await errorSoon(inspector)).toMatchObject({ code: 'UPLOAD_TOO_LARGE', statusCode: 413 })
  })

  it('refuses an empty upload', async () => {
    await expect(inspect([])).rejects.toMatchObject({ code: 'EMPTY_UPLOAD', statusCode: 400 })
  })

  it('passes the bytes through and reports format, size, sha256, head and tail of a multi-chunk stream', async () => {
    const raw = Buffer.alloc(300 * 200 * 3)
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24
    const jpeg = await sharp(raw, { raw: { width: 300, height: 200, channels: 3 } })
      .jpeg()
      .toBuffer()
    expect(jpeg.length).toBeGreaterThan(10 * TAIL_BYTES)
    const { result, output } = await inspect(chunked(jpeg, 1000), jpeg.length)
    expect(output.equals(jpeg)).toBe(true)
    expect(result.format).toBe('jpeg')
    expect(result.size).toBe(jpeg.length)
    expect(result.sha256).toBe(createHash('sha256').update(jpeg).digest('hex'))
    expect(result.head.equals(jpeg)).toBe(true) // under HEAD_BYTES, so all of it
    expect(result.tail.equals(jpeg.subarray(-TAIL_BYTES))).toBe(true)
  })

  it('sniffs a format whose first 64 bytes arrive one byte at a time', async () => {
    const noise = Buffer.from(Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 97) & 255))
    const gif = await sharp(noise, { raw: { width: 32, height: 32, channels: 3 } })
      .gif()
      .toBuffer()
    expect(gif.length).toBeGreaterThan(64)
    const { result } = await inspect(chunked(gif, 1))
    expect(result).toMatchObject({ format: 'gif', size: gif.length })
  })
})
