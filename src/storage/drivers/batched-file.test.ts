import { type FileHandle, mkdtemp, open, readFile, rm } from 'node:fs/promises'
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
  streamsBeingWritten,
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

/** An open() whose handles report what is done with them, with some calls replaced. */
function recordingOpen(calls: string[], replace: Partial<Record<'writev' | 'sync', unknown>> = {}) {
  return (async (...args: Parameters<typeof open>) => {
    const handle = await open(...args)
    const writev = replace.writev ?? handle.writev.bind(handle)
    const sync = replace.sync ?? handle.sync.bind(handle)
    const close = handle.close.bind(handle)
    handle.writev = ((chunks: Buffer[]) => {
      calls.push(`writev ${chunks.reduce((sum, chunk) => sum + chunk.length, 0)}`)
      return (writev as FileHandle['writev'])(chunks)
    }) as FileHandle['writev']
    handle.sync = async () => {
      calls.push('sync')
      await (sync as FileHandle['sync'])()
      calls.push('synced')
    }
    handle.close = async () => {
      calls.push('close')
      await close()
    }
    return handle
  }) as typeof open
}

describe('BatchedFileWriter', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-batched-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const read = (name = 'file') => readFile(join(dir, name))

  it('writes a stream in batches of MAX_BATCH_BYTES, one writev each, and finishes only once the file is synced', async () => {
    const { bytes, pieces } = body(1100 * KB)
    const calls: string[] = []
    const writer = new BatchedFileWriter(join(dir, 'file'), 0o600, recordingOpen(calls))
    await pipeline(Readable.from(pieces), writer)
    calls.push('finished')
    expect((await read()).equals(bytes)).toBe(true)
    expect(writer.bytesWritten).toBe(bytes.length)
    const last = bytes.length - 4 * MAX_BATCH_BYTES
    expect(calls).toEqual([
      ...Array(4).fill(`writev ${MAX_BATCH_BYTES}`),
      `writev ${last}`,
      'sync',
      'synced',
      'close',
      'finished',
    ])
  })

  it('continues a short writev with the bytes it left', async () => {
    const { bytes, pieces } = body(300 * KB)
    // A writev that takes at most 10,000 bytes per call.
    const shortOpen = (async (...args: Parameters<typeof open>) => {
      const real = await open(...args)
      real.writev = ((chunks: Buffer[]) =>
        real.write(Buffer.concat(chunks).subarray(0, 10_000))) as unknown as FileHandle['writev']
      return real
    }) as typeof open
    const writer = new BatchedFileWriter(join(dir, 'file'), 0o600, shortOpen)
    await pipeline(Readable.from(pieces), writer)
    expect((await read()).equals(bytes)).toBe(true)
    expect(writer.bytesWritten).toBe(bytes.length)
  })

  it('fails the stream and closes the file when writev writes nothing, instead of trying forever', async () => {
    const calls: string[] = []
    const stuck = async () => ({ bytesWritten: 0, buffers: [] })
    const writer = new BatchedFileWriter(
      join(dir, 'file'),
      0o600,
      recordingOpen(calls, { writev: stuck }),
    )
    await expect(pipeline(Readable.from(body(300 * KB).pieces), writer)).rejects.toThrow(
      'writev wrote nothing',
    )
    expect(calls.at(-1)).toBe('close')
  })

  it('fails the stream and closes the file when the fsync fails', async () => {
    const calls: string[] = []
    const failing = async () => {
      throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
    }
    const writer = new BatchedFileWriter(
      join(dir, 'file'),
      0o600,
      recordingOpen(calls, { sync: failing }),
    )
    await expect(pipeline(Readable.from([Buffer.from('abc')]), writer)).rejects.toThrow('EIO')
    expect(calls).toEqual(['writev 3', 'sync', 'close'])
  })

  it('stores empty chunks as nothing, and an empty stream as an empty file', async () => {
    await pipeline(Readable.from([Buffer.alloc(0)]), new BatchedFileWriter(join(dir, 'a'), 0o600))
    expect((await read('a')).length).toBe(0)
    const { bytes } = body(MAX_BATCH_BYTES)
    await pipeline(
      Readable.from([bytes, Buffer.alloc(0)]),
      new BatchedFileWriter(join(dir, 'b'), 0o600),
    )
    expect((await read('b')).equals(bytes)).toBe(true)
  })

  it('a file it cannot open errors the stream, and pipeline destroys the source with it', async () => {
    const source = Readable.from(body(300 * KB).pieces)
    const writer = new BatchedFileWriter(join(dir, 'no-such-folder', 'file'), 0o600)
    await expect(pipeline(source, writer)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(source.destroyed).toBe(true)
  })

  it('an aborted source closes the file once', async () => {
    const calls: string[] = []
    const source = new Readable({ read() {} })
    const writer = new BatchedFileWriter(join(dir, 'file'), 0o600, recordingOpen(calls))
    const written = pipeline(source, writer)
    source.push(Buffer.alloc(MAX_BATCH_BYTES))
    setTimeout(() => source.destroy(new Error('aborted')), 20)
    await expect(written).rejects.toThrow('aborted')
    expect(calls.filter((call) => call === 'close')).toEqual(['close'])
    expect(calls).not.toContain('sync')
  })

  it('shares the budget among the streams being written, and frees their share when they end', async () => {
    expect(batchBytes(1)).toBe(MAX_BATCH_BYTES)
    expect(batchBytes(100)).toBe(Math.floor(BATCH_BUDGET_BYTES / 100))
    expect(batchBytes(1000)).toBe(64 * KB) // never under one socket read
    const before = streamsBeingWritten()
    const writers = Array.from(
      { length: 64 },
      (_, i) => new BatchedFileWriter(join(dir, `f${i}`), 0o600),
    )
    expect(streamsBeingWritten()).toBe(before + 64)
    expect(batchBytes()).toBe(batchBytes(before + 64))
    await Promise.all(writers.slice(0, 32).map((writer) => pipeline(Readable.from([]), writer)))
    for (const writer of writers.slice(32)) {
      writer.once('error', () => {}) // the client went away
      writer.destroy(new Error('aborted'))
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(streamsBeingWritten()).toBe(before)
  })
})
