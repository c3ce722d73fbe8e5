import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { type DataStore, EVENTS, Server, type Upload } from '@tus/server'
import type { Image, Visibility } from '../domain/image.js'
import { AppError, isAppError } from '../errors/index.js'
import type { Uploader, UploadImage } from './types.js'

/** A tus store that can also read an upload back (FileStore and S3Store both can). */
export type TusDatastore = DataStore & { read(id: string): Promise<Readable> | Readable }

/** How the HTTP layer words an answer: the finished image, and a refusal in our error format. */
export interface TusPresenter {
  image(result: { image: Image; created: boolean }): {
    headers: Record<string, string>
    body: string
  }
  error(error: AppError): { status_code: number; body: string }
}

export interface TusRequest {
  uploader: Uploader
  /** The creation request's Idempotency-Key header, if any (Upload-Metadata may carry one too). */
  idempotencyKey?: string | undefined
  present: TusPresenter
}

export interface TusUploadsDeps {
  datastore: TusDatastore
  /**
   * Stored ids are this prefix and 32 hex digits; URLs carry the hex only. With S3 it puts tus's
   * objects under the store's own prefix (`<prefix>/tus/…`) instead of the bucket's root.
   */
  idPrefix?: string
  upload: UploadImage
  /** The path the server is mounted on, e.g. /v1/tus. */
  path: string
  /** CORS: the origins tus answers (it writes its own CORS headers); unset, any origin. */
  allowedOrigins?: readonly string[] | undefined
  /** Response headers a browser may read, besides tus's own. */
  exposedHeaders?: readonly string[] | undefined
  /** Gives back an upload token's use when its upload made no image. */
  refund?: (tokenId: string) => Promise<void>
  /**
   * Removes what a finished upload left, by its URL id, when the tus store cannot: @tus/s3-store
   * aborts the upload's multipart upload first, which S3 refuses (NoSuchUpload) once completed.
   */
  removeFinished?: (urlId: string) => Promise<void>
  /** An unexpected failure: a tus file that could not be removed, an internal error. */
  onError?: (error: unknown, uploadId?: string) => void
}

/**
 * Metadata keys the server writes on creation (a client's own values for them are dropped): the
 * owner, and the bounds and options the creating request was allowed. Later requests are checked
 * against them, whoever sends them.
 */
const META = {
  owner: 'pf-owner',
  visibility: 'pf-visibility',
  maxBytes: 'pf-max-bytes',
  idempotencyKey: 'pf-idempotency-key',
  tokenId: 'pf-token',
} as const

/** As the image service checks it (a plain upload's Idempotency-Key). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
/** The id part of an upload's URL. */
const URL_ID = /^[0-9a-f]{32}$/

/**
 * Resumable uploads (tus 1.0, @tus/server) that land in the image pipeline: when the last byte
 * arrives, the stored file is streamed through the injected `upload` (the same inspection,
 * limits, idempotency and dedupe as a plain upload), then removed. The caller (the HTTP layer)
 * authenticates each request and hands it over with `handle` inside its request's context.
 */
export function createTusUploads(deps: TusUploadsDeps) {
  const { datastore } = deps
  const idPrefix = deps.idPrefix ?? ''
  const storedId = (urlId: string | undefined) =>
    urlId !== undefined && URL_ID.test(urlId) ? idPrefix + urlId : undefined
  const requests = new AsyncLocalStorage<TusRequest>()
  const current = (): TusRequest => {
    const store = requests.getStore()
    if (!store) throw new AppError('INTERNAL', 'A tus request outside its context')
    return store
  }

  const server = new Server({
    path: deps.path,
    datastore,
    namingFunction: () => idPrefix + randomBytes(16).toString('hex'),
    // Relative, so that resuming works through any proxy or CDN in front of us.
    generateUrl: (_req, { path, id }) => `${path}/${id.slice(idPrefix.length)}`,
    getFileIdFromRequest: (_req, lastPath) => storedId(lastPath),
    ...(deps.allowedOrigins ? { allowedOrigins: [...deps.allowedOrigins] } : {}),
    exposedHeaders: ['Pixelflow-Image-Id', ...(deps.exposedHeaders ?? [])],
    maxSize: () => current().uploader.maxBytes,
    async onUploadCreate(_req, upload) {
      const { uploader, idempotencyKey } = current()
      const metadata = withoutOurKeys(upload.metadata)
      // Refused now, not after the last byte: what the pipeline would refuse at the end.
      const key = idempotencyKey ?? metadata.idempotencyKey ?? undefined
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
        throw new AppError(
          'IDEMPOTENCY_KEY_INVALID',
          'Idempotency-Key must be 1 to 255 visible ASCII characters',
        )
      const visibility = metadata.visibility ?? 'public'
      if (visibility !== 'public' && visibility !== 'private')
        throw new AppError('BAD_REQUEST', 'The visibility metadata must be public or private')
      await uploader.claim?.()
      return {
        metadata: {
          ...metadata,
          [META.owner]: uploader.ownerId,
          [META.maxBytes]: String(uploader.maxBytes),
          [META.visibility]: uploader.visibility ?? visibility,
          ...idempotencyMeta(key),
          ...(uploader.tokenId ? { [META.tokenId]: uploader.tokenId } : {}),
        },
      }
    },
    async onUploadFinish(_req, upload) {
      const result = await finish(upload)
      const { headers, body } = current().present.image(result)
      return { status_code: 200, headers, body }
    },
    onResponseError(_req, error) {
      const present = requests.getStore()?.present
      if (!present) return undefined
      if (isAppError(error)) return present.error(error)
      // tus's own refusals keep their status and words, except the size limit, in ours.
      if ('status_code' in error)
        return error.status_code === 413
          ? present.error(new AppError('UPLOAD_TOO_LARGE', 'The upload exceeds its size limit'))
          : undefined
      deps.onError?.(error)
      return present.error(new AppError('INTERNAL', 'An internal error occurred', { cause: error }))
    },
  })
  // Removed only once the answer is written: tus reads the upload again after onUploadFinish.
  server.on(EVENTS.POST_FINISH, (_req, _res, upload: Upload) => void remove(upload.id))

  async function finish(upload: Upload) {
    const meta = upload.metadata ?? {}
    const ownerId = meta[META.owner] as string
    const body = await datastore.read(upload.id)
    // A replay does not read the file: it must not fail later, once the file is removed.
    body.on('error', () => {})
    try {
      return await deps.upload(ownerId, body, {
        declaredType: meta.filetype ?? undefined,
        idempotencyKey: meta[META.idempotencyKey] ?? undefined,
        visibility: visibilityOf(meta[META.visibility]),
        maxBytes: Number(meta[META.maxBytes]),
      })
    } catch (error) {
      // The bytes were refused (or could not be taken): nothing of them is kept, and a token's
      // use goes back, since no image was made.
      await remove(upload.id)
      const tokenId = meta[META.tokenId]
      if (tokenId) await deps.refund?.(tokenId).catch(() => {})
      throw error
    } finally {
      body.destroy()
    }
  }

  async function remove(id: string): Promise<void> {
    try {
      await datastore.remove(id)
    } catch (error) {
      // Not found by the store: gone already (a concurrent removal, an expiry), or, with S3, a
      // completed upload whose objects only we can remove.
      if ((error as { status_code?: number }).status_code !== 404) deps.onError?.(error, id)
      else
        await deps
          .removeFinished?.(id.slice(idPrefix.length))
          .catch((failure: unknown) => deps.onError?.(failure, id))
    }
  }

  return {
    /** Serves one tus request (POST, HEAD, PATCH, DELETE) for an authenticated uploader. */
    handle(request: TusRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
      return requests.run(request, () => server.handle(req, res))
    },

    /** The owner of an upload, or null when there is no such upload (never created, expired). */
    async ownerOf(urlId: string): Promise<string | null> {
      const id = storedId(urlId)
      if (id === undefined) return null
      const upload = await datastore.getUpload(id).catch(() => null)
      return upload?.metadata?.[META.owner] ?? null
    },

    /** Removes incomplete uploads past their expiry; answers how many. */
    cleanUpExpired: () => server.cleanUpExpiredUploads(),
  }
}

export type TusUploads = ReturnType<typeof createTusUploads>

function withoutOurKeys(metadata: Upload['metadata']): Record<string, string | null> {
  const ours = new Set<string>(Object.values(META))
  return Object.fromEntries(Object.entries(metadata ?? {}).filter(([key]) => !ours.has(key)))
}

function visibilityOf(value: string | null | undefined): Visibility {
  return value === 'private' ? 'private' : 'public'
}

function idempotencyMeta(key: string | undefined): Record<string, string> {
  return key === undefined ? {} : { [META.idempotencyKey]: key }
}
