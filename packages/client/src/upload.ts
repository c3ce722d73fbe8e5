import type { Call, Transport } from './transport.js'
import { isBrowser } from './transport.js'
import type { DirectUpload, DirectUploadCompleted, Image, Visibility } from './types.js'
import {
  collect,
  counted,
  type PreparedUpload,
  type Progress,
  prepareUpload,
  type UploadSource,
} from './upload-body.js'
import { xhrSend } from './xhr.js'

export interface UploadOptions {
  /** `private`: variants only through signed, expiring URLs. Default `public`. */
  visibility?: Visibility
  /** Defaults to a new random key per call, kept across that call's retries. */
  idempotencyKey?: string
  /** Defaults to the Blob's type or the file name's extension, else application/octet-stream. */
  contentType?: string
  /** A name to take the content type from, for bytes and streams. */
  filename?: string
  /** Bytes sent so far; `total` is known except for a stream source. */
  onProgress?: (progress: Progress) => void
  signal?: AbortSignal
}

/** `POST /v1/images` with the raw bytes: the accepted image. */
export async function upload(
  transport: Transport,
  source: UploadSource,
  options: UploadOptions = {},
): Promise<Image> {
  const prepared = await prepareUpload(source, options)
  return transport.json<Image>({
    method: 'POST',
    path: '/v1/images',
    query: { visibility: options.visibility },
    headers: {
      'content-type': prepared.contentType,
      'idempotency-key': options.idempotencyKey ?? newKey(),
    },
    signal: options.signal,
    ...(await bodyOf(prepared, options.onProgress)),
  })
}

/**
 * Direct-to-S3: announce the upload (`POST /v1/uploads`), send the bytes to the presigned URL
 * with exactly the headers it was signed with, then `POST /v1/uploads/:id/complete`, which
 * checks the object before it becomes an image. `storage` sends the PUT: no credential goes there.
 */
export async function directUpload(
  transport: Transport,
  storage: Transport,
  source: UploadSource,
  options: UploadOptions = {},
): Promise<DirectUploadCompleted> {
  let prepared = await prepareUpload(source, options)
  // The announcement states the exact size: a stream of unknown length is read first.
  if (prepared.total === undefined)
    prepared = await prepareUpload(await collect(prepared.stream(), prepared.contentType), options)
  const announced = await transport.json<DirectUpload>({
    method: 'POST',
    path: '/v1/uploads',
    json: {
      contentType: prepared.contentType,
      bytes: prepared.total,
      ...(options.visibility ? { visibility: options.visibility } : {}),
      idempotencyKey: options.idempotencyKey ?? newKey(),
    },
    // A repeated announcement at worst leaves an unused slot (swept); its key makes one image.
    idempotent: true,
    signal: options.signal,
  })
  const { upload: target, id } = announced as unknown as {
    id: string
    upload: { method: string; url: string; headers: Record<string, string> }
  }
  const put = await storage.request({
    method: target.method as Call['method'],
    path: target.url,
    headers: target.headers,
    signal: options.signal,
    ...(await bodyOf(prepared, options.onProgress)),
  })
  await put.body?.cancel()
  return transport.json<DirectUploadCompleted>({
    method: 'POST',
    path: `/v1/uploads/${encodeURIComponent(id)}/complete`,
    // Completing an upload twice gives the same image.
    idempotent: true,
    signal: options.signal,
  })
}

/**
 * The request body of one upload, fresh for each attempt, and how it is sent: whole when no
 * progress is asked for; counted as fetch reads a stream in Node; through XMLHttpRequest in a
 * browser, the one way a page learns how much of a body went out (fetch reports no upload
 * progress, and Chromium streams a request body only over HTTP/2).
 */
async function bodyOf(
  prepared: PreparedUpload,
  onProgress: UploadOptions['onProgress'],
): Promise<Pick<Call, 'body' | 'replayable' | 'send'>> {
  const browser = isBrowser() && typeof XMLHttpRequest !== 'undefined'
  // XMLHttpRequest takes no stream: in a browser a stream source is read into a Blob first.
  const whole =
    prepared.whole ?? (browser ? await collect(prepared.stream(), prepared.contentType) : null)
  const viaXhr = browser && onProgress !== undefined
  const body = async (): Promise<RequestInit> => {
    if (whole && (viaXhr || !onProgress)) return { body: whole as BodyInit }
    const stream = prepared.stream()
    const sent = onProgress ? counted(stream, prepared.total, onProgress) : stream
    // `duplex: 'half'` is what fetch requires of a streamed request body.
    return { body: sent, duplex: 'half' } as RequestInit
  }
  return {
    body,
    replayable: whole !== null || prepared.replayable,
    send: viaXhr ? xhrSend(onProgress) : undefined,
  }
}

/** A random Idempotency-Key; crypto.randomUUID exists only in secure contexts in a browser. */
export function newKey(): string {
  const crypto = globalThis.crypto
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6]! & 0x0f) | 0x40
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
