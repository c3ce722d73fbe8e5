import type { FileHandle } from 'node:fs/promises'
import { Writable } from 'node:stream'

/**
 * What a stream gathers before it is written. A socket hands an upload over in pieces of up to
 * 64 KB, and fs.WriteStream makes each piece one job for libuv's thread pool; waking a pool thread
 * is dear in a VM, and 16 of them per MB were a tenth of the upload's main thread. Batches of
 * 256 KB took the upload bench (32 uploads at once) from 124–146 to 157–180 req/s in three
 * alternating pairs (bench/RESULTS.md, 2026-12-07, late night).
 *
 * What the streams being written hold together is bounded: under the memory bench's burst of 100
 * uploads, 256 KB each put the peak at 333 MB against 285. So a batch is this process's budget
 * shared by the streams being written, between one socket read and MAX_BATCH_BYTES.
 */
export const BATCH_BUDGET_BYTES = 8 * 1024 * 1024
export const MAX_BATCH_BYTES = 256 * 1024
const MIN_BATCH_BYTES = 64 * 1024

let writing = 0

/** The batch size while `writing` streams are being written. */
export function batchBytes(streams = writing): number {
  const share = Math.floor(BATCH_BUDGET_BYTES / Math.max(1, streams))
  return Math.min(MAX_BATCH_BYTES, Math.max(MIN_BATCH_BYTES, share))
}

/**
 * A Writable into an open file that gathers chunks and writes each batch with one writev, without
 * copying them together, and fsyncs the file when the stream ends: a 'finish' means the bytes are
 * on disk. The caller opens and closes the handle.
 */
export class BatchedFileWriter extends Writable {
  readonly #handle: FileHandle
  #chunks: Buffer[] = []
  #size = 0
  #counted = true
  bytesWritten = 0

  constructor(handle: FileHandle) {
    super()
    this.#handle = handle
    writing++
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    this.#chunks.push(chunk)
    this.#size += chunk.length
    if (this.#size < batchBytes()) done()
    else this.#writeOut().then(() => done(), done)
  }

  override _final(done: (error?: Error) => void): void {
    this.#writeOut()
      .then(() => this.#handle.sync())
      .then(() => done(), done)
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // After 'finish' (autoDestroy) or on an error: either way no longer written.
    if (this.#counted) writing--
    this.#counted = false
    done(error)
  }

  async #writeOut(): Promise<void> {
    let chunks = this.#chunks
    this.#chunks = []
    this.#size = 0
    while (chunks.length > 0) {
      const { bytesWritten } = await this.#handle.writev(chunks)
      // A regular file takes a whole writev unless something is wrong; a short one is continued,
      // and one that writes nothing is an error rather than a loop.
      if (bytesWritten === 0) throw new Error('writev wrote nothing')
      this.bytesWritten += bytesWritten
      chunks = after(chunks, bytesWritten)
    }
  }
}

/** The chunks with their first `bytes` bytes dropped. */
function after(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes
  let index = 0
  while (index < chunks.length && skip >= chunks[index]!.length) skip -= chunks[index++]!.length
  const rest = chunks.slice(index)
  if (skip > 0) rest[0] = rest[0]!.subarray(skip)
  return rest
}
