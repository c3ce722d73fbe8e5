import { type FileHandle, open } from 'node:fs/promises'
import { Writable } from 'node:stream'

/**
 * What a stream gathers before it is written. A socket hands an upload over in pieces of up to
 * 64 KB, and fs.WriteStream makes each piece one job for libuv's thread pool; waking a pool thread
 * is dear in a VM, and 16 of them per MB were a tenth of the upload's main thread. Batches of up
 * to 256 KB took the upload bench (32 uploads at once) from 131–141 to 156–165 req/s in three
 * alternating pairs against the old code (bench/RESULTS.md, 2026-12-07, late night).
 *
 * 256 KB for every stream put the memory bench's burst of 100 uploads at 333 MB against 285. So
 * a batch is this process's budget shared by the streams being written, between one socket read
 * and MAX_BATCH_BYTES. A batch is written once whole reads reach it, so each stream holds up to
 * its batch plus one read: about the budget in all, a read more per stream when there are so many
 * that the floor applies.
 */
export const BATCH_BUDGET_BYTES = 8 * 1024 * 1024
export const MAX_BATCH_BYTES = 256 * 1024
const MIN_BATCH_BYTES = 64 * 1024

let writing = 0

/** How many BatchedFileWriters are open or opening (tests). */
export const streamsBeingWritten = () => writing

/** The batch size while `streams` streams are being written. */
export function batchBytes(streams = writing): number {
  const share = Math.floor(BATCH_BUDGET_BYTES / Math.max(1, streams))
  return Math.min(MAX_BATCH_BYTES, Math.max(MIN_BATCH_BYTES, share))
}

/**
 * A Writable into a new file, like fs.WriteStream with `flush`, that gathers chunks and writes
 * each batch with one writev, without copying them together. The file is opened by the stream
 * itself, so a failed open errors the stream and pipeline() destroys the source with it; it is
 * fsynced when the stream ends ('finish' means the bytes are on disk) and closed when the stream
 * is destroyed, after a success or an error.
 */
export class BatchedFileWriter extends Writable {
  readonly #path: string
  readonly #mode: number
  readonly #open: typeof open
  #handle: FileHandle | null = null
  #chunks: Buffer[] = []
  #size = 0
  bytesWritten = 0

  /** `path` must not exist yet (opened with 'wx'); tests hand in an `openFile` of their own. */
  constructor(path: string, mode: number, openFile: typeof open = open) {
    super()
    this.#path = path
    this.#mode = mode
    this.#open = openFile
    writing++
  }

  override _construct(done: (error?: Error | null) => void): void {
    this.#open(this.#path, 'wx', this.#mode).then((handle) => {
      this.#handle = handle
      done()
    }, done)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    // An object-mode source (Readable.from) can hand over empty chunks; they write nothing.
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#size += chunk.length
    }
    if (this.#size < batchBytes()) done()
    else this.#writeOut().then(() => done(), done)
  }

  override _final(done: (error?: Error) => void): void {
    this.#writeOut()
      .then(() => this.#handle!.sync())
      .then(() => done(), done)
  }

  // Node calls this once per stream: after 'finish' (autoDestroy), on an error, or after a
  // failed open, so the count of streams being written drops once.
  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    writing--
    if (!this.#handle) {
      done(error)
      return
    }
    // A failing close must not hide the error that ended the stream (a client's abort).
    this.#handle.close().then(
      () => done(error),
      (closeError: Error) => done(error ?? closeError),
    )
  }

  async #writeOut(): Promise<void> {
    let chunks = this.#chunks
    this.#chunks = []
    this.#size = 0
    while (chunks.length > 0) {
      const { bytesWritten } = await this.#handle!.writev(chunks)
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
