/**
 * What an upload can be made from, turned into a request body: a file path (Node), a Node
 * Readable, a web ReadableStream, bytes (Buffer, Uint8Array, ArrayBuffer) or a Blob/File. No Node
 * type is named here, so the package typechecks and bundles for a browser as well.
 */

/** A Node Readable, seen structurally: what it offers that this module uses. */
export interface NodeReadableLike extends AsyncIterable<unknown> {
  pipe: (...args: never[]) => unknown
  path?: unknown
}

export type UploadSource =
  | string
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | ReadableStream<Uint8Array>
  | NodeReadableLike

export interface Progress {
  loaded: number
  /** Unknown for a stream of unknown length. */
  total?: number
}

export interface PreparedUpload {
  contentType: string
  total: number | undefined
  /** Whether each attempt can send the body afresh (not so for a caller's stream). */
  replayable: boolean
  /** The whole body at once, for fetch without progress and for XMLHttpRequest. */
  whole: Blob | Uint8Array | null
  /** A stream of the body for one attempt. */
  stream(): ReadableStream<Uint8Array>
}

const TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
}

/** The content type a file name's extension says, if it names an image type the server reads. */
export function contentTypeOf(name: string | undefined): string | undefined {
  const extension = name?.match(/\.([a-z0-9]+)$/i)?.[1]?.toLowerCase()
  return extension ? TYPES[extension] : undefined
}

/** The last segment of a path, with either separator. */
function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path
}

const CHUNK = 64 * 1024

export async function prepareUpload(
  source: UploadSource,
  options: { contentType?: string | undefined; filename?: string | undefined },
): Promise<PreparedUpload> {
  const typed = (fallbackName?: string, blobType?: string) =>
    options.contentType ??
    (blobType || undefined) ??
    contentTypeOf(options.filename ?? fallbackName) ??
    'application/octet-stream'

  if (typeof source === 'string') {
    const blob = await openFile(source)
    return fromBlob(blob, typed(baseName(source)))
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as Partial<File>).name
    return fromBlob(source, typed(name, source.type))
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    const bytes =
      source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    return fromBytes(bytes, typed())
  }
  if (isWebStream(source)) return fromStream(source, typed())
  if (isNodeReadable(source)) {
    const name = typeof source.path === 'string' ? baseName(source.path) : undefined
    return fromStream(streamOf(source), typed(name))
  }
  throw new TypeError('upload(): unsupported source; pass a path, stream, bytes or a Blob')
}

function fromBlob(blob: Blob, contentType: string): PreparedUpload {
  return {
    contentType,
    total: blob.size,
    replayable: true,
    whole: blob,
    stream: () => blob.stream() as ReadableStream<Uint8Array>,
  }
}

function fromBytes(bytes: Uint8Array, contentType: string): PreparedUpload {
  return {
    contentType,
    total: bytes.byteLength,
    replayable: true,
    whole: bytes,
    stream: () => {
      let offset = 0
      // Slices, so progress moves as the body is sent, not once for the whole buffer.
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.byteLength) return controller.close()
          controller.enqueue(bytes.subarray(offset, offset + CHUNK))
          offset += CHUNK
        },
      })
    },
  }
}

function fromStream(stream: ReadableStream<Uint8Array>, contentType: string): PreparedUpload {
  let used = false
  return {
    contentType,
    total: undefined,
    replayable: false,
    whole: null,
    stream: () => {
      if (used) throw new TypeError('upload(): a stream source can be sent only once')
      used = true
      return stream
    },
  }
}

/** A stream that reports the bytes read from it, as the request reads (sends) them. */
export function counted(
  stream: ReadableStream<Uint8Array>,
  total: number | undefined,
  onProgress: (progress: Progress) => void,
): ReadableStream<Uint8Array> {
  let loaded = 0
  const reader = stream.getReader()
  const report = () => onProgress(total === undefined ? { loaded } : { loaded, total })
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) {
        if (total === undefined) onProgress({ loaded, total: loaded })
        return controller.close()
      }
      loaded += value.byteLength
      controller.enqueue(value)
      report()
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

/** Reads a whole stream into a Blob (a browser cannot stream a request body over HTTP/1.1). */
export async function collect(stream: ReadableStream<Uint8Array>, type: string): Promise<Blob> {
  return new Response(stream).blob().then((blob) => new Blob([blob], { type }))
}

function isWebStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof (value as ReadableStream | null)?.getReader === 'function'
}

function isNodeReadable(value: unknown): value is NodeReadableLike {
  const candidate = value as NodeReadableLike | null
  return (
    typeof candidate?.pipe === 'function' && typeof candidate[Symbol.asyncIterator] === 'function'
  )
}

/** A web stream over any async iterable of byte chunks (a Node Readable yields Buffers). */
function streamOf(source: AsyncIterable<unknown>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next()
      if (done) return controller.close()
      controller.enqueue(
        typeof value === 'string' ? new TextEncoder().encode(value) : (value as Uint8Array),
      )
    },
    async cancel() {
      await iterator.return?.()
    },
  })
}

interface NodeFs {
  openAsBlob(path: string): Promise<Blob>
}

/**
 * A file as a Blob (Node's fs.openAsBlob): read lazily while it is sent, sent again on a retry.
 * The module name is a variable so that bundlers for the browser leave this import alone.
 */
async function openFile(path: string): Promise<Blob> {
  const name = 'node:fs'
  let fs: NodeFs
  try {
    fs = (await import(/* @vite-ignore */ name)) as NodeFs
  } catch {
    throw new TypeError('upload(): a file path needs Node.js; in a browser pass a Blob or File')
  }
  return fs.openAsBlob(path)
}
