import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  BATCH_BUDGET_BYTES,
  BatchedFileWriter,
  batchBytes,
  MAX_BATCH_BYTES,
} from './batched-file.js'

const KB = 1024

/** `size` bytes of a pattern, in the 64 KB pieces a socket hands over. */
function body(size: number): { bytes: Buffer; pieces: Buffer[] } {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31) & 255
  const pieces: Buffer[] = []
  for (let at = 0; at < size; at += 64 * KB) pieces.push(bytes.subarray(at, at + 64 * KB))
  return { bytes, pieces }
}

describe('BatchedFileWriter', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-batched-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a stream in batches of MAX_BATCH_BYTES, one writev each, and fsyncs it at the end', async () => {
    const { bytes, pieces } = body(1100 * KB)
    const handle = await open(join(dir, 'file'), 'wx')
    const calls: string[] = []
    const writev = handle.writev.bind(handle)
    handle.writev = ((chunks: Buffer[]) => {
      calls.push(`writev ${chunks.reduce((sum, chunk) => sum + chunk.length, 0)}`)
      return writev(chunks)
    }) as typeof handle.writev
    const sync = handle.sync.bind(handle)
    handle.sync = () => {
      calls.push('sync')
      return sync()
    }
    const writer = new BatchedFileWriter(handle)
    await pipeline(Readable.from(pieces), writer)
    await handle.close()
    expect((await readFile(join(dir, 'file'))).equals(bytes)).toBe(true)
    expect(writer.bytesWritten).toBe(bytes.length)
    const last = bytes.length - 4 * MAX_BATCH_BYTES
    expect(calls).toEqual([...Array(4).fill(`writev ${MAX_BATCH_BYTES}`), `writev ${last}`, 'sync'])
  })

  it('continues a short writev with the bytes it left', async () => {
    const { bytes, pieces } = body(300 * KB)
    const handle = await open(join(dir, 'file'), 'wx')
    // A file handle whose writev takes at most 10,000 bytes per call.
    const short = {
      writev: (chunks: Buffer[]) => handle.write(Buffer.concat(chunks).subarray(0, 10_000)),
      sync: () => handle.sync(),
    }
    const writer = new BatchedFileWriter(short as unknown as typeof handle)
    await pipeline(Readable.from(pieces), writer)
    await handle.close()
    expect((await readFile(join(dir, 'file'))).equals(bytes)).toBe(true)
    expect(writer.bytesWritten).toBe(bytes.length)
  })

  it('fails the stream when writev writes nothing, instead of trying forever', async () => {
    const stuck = {
      writev: async () => ({ bytesWritten: 0, buffers: [] }),
      sync: async () => {},
    }
    const writer = new BatchedFileWriter(stuck as never)
    await expect(pipeline(Readable.from(body(300 * KB).pieces), writer)).rejects.toThrow(
      'writev wrote nothing',
    )
  })

  it('shares the budget among the streams being written, and frees their share when they end', async () => {
    expect(batchBytes(1)).toBe(MAX_BATCH_BYTES)
    expect(batchBytes(100)).toBe(Math.floor(BATCH_BUDGET_BYTES / 100))
    expect(batchBytes(1000)).toBe(64 * KB) // never under one socket read
    const fake = { writev: async () => ({ bytesWritten: 1 }), sync: async () => {} }
    const before = batchBytes()
    const writers = Array.from({ length: 64 }, () => new BatchedFileWriter(fake as never))
    expect(batchBytes()).toBe(Math.floor(BATCH_BUDGET_BYTES / 64))
    await Promise.all(writers.slice(0, 32).map((writer) => pipeline(Readable.from([]), writer)))
    for (const writer of writers.slice(32)) {
      writer.once('error', () => {}) // the client went away
      writer.destroy(new Error('aborted'))
    }
    await new Promise((resolve) => setImmediate(resolve))
    expect(batchBytes()).toBe(before)
  })
})
