import { finished, type Readable, Writable } from 'node:stream'
import type { Cache } from '../cache/cache.js'
import type { LimitsConfig } from '../config/schema.js'
import {
  contentTypeOf,
  formatOfContentType,
  type InputFormat,
  looksComplete,
} from '../domain/formats.js'
import { newImageId } from '../domain/ids.js'
import { type FocalPoint, type Image, objectKeys, type Visibility } from '../domain/image.js'
import { processImagePayload } from '../domain/jobs.js'
import { AppError } from '../errors/index.js'
import type { Quota } from '../metadata/shard-store.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { currentTraceparent } from '../observability/tracing.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import type { ObjectStore } from '../storage/object-store.js'
import { readObject } from '../storage/read-all.js'
import { fetchImage, NO_FETCH, type UrlFetchConfig } from './fetch-url.js'
import { readHeader } from './read-header.js'
import { type InspectedUpload, UploadInspector } from './upload-inspector.js'

export interface ImageServiceDeps {
  metadata: ShardedMetadata
  store: ObjectStore
  limits: LimitsConfig
  quotas?: Quota
  /** Metadata cache for reads by id; `invalidate` drops an id from it everywhere. */
  cache?: Cache<Image>
  invalidate?: (imageId: string) => Promise<void>
  /** Called after an image and its job committed: wakes the outbox relay. */
  onQueued?: () => void
  /** Right after an upload's row and job committed, before the answer: the fault tests' kill hook. */
  afterCommit?: (imageId: string) => void
  /** The owner's earlier image with the same bytes is returned instead of a new one (default on). */
  dedupe?: boolean
  /** Upload from a URL: the outbound allow-list and the whole fetch's deadline. */
  fetch?: UrlFetchConfig
  /**
   * After a delete removed the row, before its objects go: the CDN purge (start/transforms.ts),
   * which reads the derived objects' names to know which URLs a cache may hold.
   */
  beforeObjectsDeleted?: (image: Pick<Image, 'id' | 'variants'>) => Promise<void>
}

export interface UploadOptions {
  /** The client's claimed type (request or part Content-Type); checked, never trusted. */
  declaredType?: string | undefined
  idempotencyKey?: string | undefined
  visibility?: Visibility
  /**
   * Settles when the rest of the request has been read (a multipart body's parts after the file);
   * a rejection refuses the upload, so nothing is kept of a body that broke a limit after its file.
   */
  bodyComplete?: Promise<void> | undefined
  /** A per-request byte limit below limits.maxUploadBytes (an upload token's `maxBytes`). */
  maxBytes?: number | undefined
}

export interface UploadResult {
  image: Image
  /** false when an existing image was returned (an Idempotency-Key replay, or a duplicate). */
  created: boolean
  /**
   * created: a new image, queued · replayed: the same Idempotency-Key with the same bytes and
   * visibility, the first answer again · deduplicated: the owner already has these bytes.
   */
  outcome: 'created' | 'replayed' | 'deduplicated'
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
const UNDECLARED = new Set(['', 'application/octet-stream'])

/** One more row than the page was fetched: its presence says whether there is a next page. */
function toPage(rows: Image[], limit: number): { images: Image[]; next: string | null } {
  const images = rows.slice(0, limit)
  return { images, next: rows.length > limit ? (images.at(-1)?.id ?? null) : null }
}

/** The image use cases shared by the API, the worker and the CLI. */
export function createImageService(deps: ImageServiceDeps) {
  const { metadata, store, limits } = deps

  /** By id, through the cache when there is one (cache-aside, single-flight on a miss). */
  async function byId(id: string): Promise<Image | null> {
    const shard = metadata.forImageId(id)
    if (!shard) return null
    return deps.cache
      ? deps.cache.getOrLoad(imageKey(id), () => shard.getImage(id))
      : shard.getImage(id)
  }

  async function getOwned(ownerId: string, id: string): Promise<Image> {
    const image = await byId(id)
    // Another owner's image is reported exactly like a missing one: its existence is not leaked.
    if (!image || image.ownerId !== ownerId) throw new AppError('IMAGE_NOT_FOUND', `No image ${id}`)
    return image
  }

  /**
   * Streams the body to the object store while inspecting it, checks the header, then commits the
   * image row with its job in one shard transaction. Any refusal removes the stored original.
   */
  async function upload(
    ownerId: string,
    body: Readable,
    options: UploadOptions,
  ): Promise<UploadResult> {
    const idempotencyKey = options.idempotencyKey
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      body.resume()
      throw new AppError(
        'IDEMPOTENCY_KEY_INVALID',
        'Idempotency-Key must be 1 to 255 visible ASCII characters',
      )
    }
    const bucket = metadata.bucketOfOwner(ownerId)
    const shard = metadata.forBucket(bucket)
    const visibility = options.visibility ?? 'public'
    const earlier = idempotencyKey
      ? await shard.findByIdempotencyKey(ownerId, idempotencyKey)
      : null
    if (earlier) {
      // The bytes are hashed, not stored: a replay must prove it carries the same bytes.
      const sha256 = await hashOnly(body, options.maxBytes)
      await options.bodyComplete
      return replayOf(earlier, sha256, visibility)
    }
    const id = newImageId(bucket)
    const key = objectKeys.original(id)
    const upload = await storeOriginal(key, body, options.maxBytes)
    try {
      await options.bodyComplete
      checkDeclaredType(options.declaredType, upload.format)
      if (!looksComplete(upload.format, upload.tail, upload.size, upload.head)) {
        throw new AppError(
          'IMAGE_TRUNCATED',
          'The image ends before its data does: the upload is truncated',
        )
      }
      const header = await readHeader(
        upload.format,
        upload.head,
        (bytes) => readStored(key, bytes),
        limits,
      )
      const newImage = {
        id,
        ownerId,
        visibility,
        bucket,
        format: upload.format,
        ...header,
        bytes: upload.size,
        sha256: upload.sha256,
        idempotencyKey: idempotencyKey ?? null,
      }
      const now = Date.now()
      const created = await shard.createImage(
        newImage,
        processImagePayload(id, now, currentTraceparent()),
        now,
        deps.quotas,
        deps.dedupe ?? true,
      )
      if ('existing' in created) {
        await store.delete(key)
        if (created.deduplicated)
          return { image: created.existing, created: false, outcome: 'deduplicated' }
        // Another request with the same key committed while these bytes streamed.
        return replayOf(created.existing, upload.sha256, visibility)
      }
      deps.afterCommit?.(created.id)
      deps.onQueued?.()
      return { image: created, created: true, outcome: 'created' }
    } catch (error) {
      await store.delete(key)
      throw error
    }
  }

  return {
    getOwned,
    upload,

    /**
     * Fetches the image at `url` through the SSRF guard (src/lib/ssrf.ts), within the upload's
     * byte limit and the fetch deadline, and uploads it on the same path as a client's body. The
     * remote side's Content-Type is not even checked: the bytes are sniffed, as always.
     */
    async uploadFromUrl(
      ownerId: string,
      url: string,
      options: Omit<UploadOptions, 'declaredType' | 'bodyComplete'>,
    ): Promise<UploadResult> {
      checkIdempotencyKey(options.idempotencyKey)
      const maxBytes = Math.min(options.maxBytes ?? limits.maxUploadBytes, limits.maxUploadBytes)
      const body = await fetchImage(url, deps.fetch ?? NO_FETCH, maxBytes)
      try {
        return await upload(ownerId, body, { ...options, maxBytes })
      } finally {
        body.destroy() // after a refusal, the rest of the answer is not worth reading
      }
    },

    /** For delivery: the image by id alone (variant URLs are public, like a CDN's). */
    async getPublic(id: string): Promise<Image> {
      const image = await byId(id)
      if (!image) throw new AppError('IMAGE_NOT_FOUND', `No image ${id}`)
      return image
    },

    async list(
      ownerId: string,
      limit: number,
      before?: string,
    ): Promise<{ images: Image[]; next: string | null }> {
      return toPage(await metadata.forOwner(ownerId).listImages(ownerId, limit + 1, before), limit)
    },

    /** Every owner's images (admin): a parallel fan-out over the shards, merged newest first. */
    async listAll(
      limit: number,
      before?: string,
    ): Promise<{ images: Image[]; next: string | null }> {
      return toPage(await metadata.listAll(limit + 1, before), limit)
    },

    /** Sets (or clears, with null) where crops keep the subject; the image as it now is. */
    async setFocalPoint(ownerId: string, id: string, point: FocalPoint | null): Promise<Image> {
      await getOwned(ownerId, id)
      const updated = await metadata.forImageId(id)?.setFocalPoint(id, point, Date.now())
      await deps.invalidate?.(id)
      if (!updated) throw new AppError('IMAGE_NOT_FOUND', `No image ${id}`)
      return updated
    },

    async delete(ownerId: string, id: string): Promise<void> {
      await getOwned(ownerId, id)
      // Row first: a crash after it leaves unreferenced objects (harmless), never a row without its bytes.
      const deleted = await metadata.forImageId(id)?.deleteImage(id)
      await deps.invalidate?.(id)
      await deps.beforeObjectsDeleted?.(deleted ?? { id, variants: [] })
      await deletePrefix(store, objectKeys.prefix(id))
    },
  }

  async function storeOriginal(
    key: string,
    body: Readable,
    maxBytes = limits.maxUploadBytes,
  ): Promise<InspectedUpload> {
    const inspector = new UploadInspector(Math.min(maxBytes, limits.maxUploadBytes))
    // A client abort errors the inspector, so store.put fails and removes its temp file.
    finished(body, (error) => error && inspector.destroy(error))
    // On a refusal the rest of the body is drained rather than the socket destroyed, so the
    // client reads the 4xx instead of a connection reset.
    inspector.on('error', () => {
      body.unpipe(inspector)
      body.resume()
    })
    await store.put(key, body.pipe(inspector))
    return inspector.result()
  }

  /** A replay's bytes: inspected and hashed like an upload's, then dropped. */
  async function hashOnly(body: Readable, maxBytes = limits.maxUploadBytes): Promise<string> {
    const inspector = new UploadInspector(Math.min(maxBytes, limits.maxUploadBytes))
    finished(body, (error) => error && inspector.destroy(error))
    inspector.on('error', () => {
      body.unpipe(inspector)
      body.resume()
    })
    const sink = new Writable({ write: (_chunk, _encoding, next) => next() })
    // Not pipeline(): it would destroy the request on a refusal, and the client would read a
    // connection reset instead of its 4xx (the body is drained above instead).
    await new Promise<void>((resolve, reject) => {
      inspector.once('error', reject)
      sink.once('finish', resolve)
      body.pipe(inspector).pipe(sink)
    })
    return inspector.result().sha256
  }

  /** The stored original, or its first `prefix` bytes. */
  async function readStored(key: string, prefix?: number): Promise<Buffer> {
    const bytes = await readObject(store, key, prefix ? { start: 0, end: prefix - 1 } : undefined)
    if (!bytes) throw new AppError('INTERNAL', 'The stored original disappeared')
    return bytes
  }
}

export type ImageService = ReturnType<typeof createImageService>

/** The metadata cache key of an image. */
export const imageKey = (id: string) => `image:${id}`

function checkIdempotencyKey(key: string | undefined): void {
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key))
    throw new AppError(
      'IDEMPOTENCY_KEY_INVALID',
      'Idempotency-Key must be 1 to 255 visible ASCII characters',
    )
}

/**
 * The same key must mean the same request: the same bytes (their SHA-256) and the same
 * visibility, which changes what the image is. Anything else is a client bug that silently
 * returning the first image would hide.
 */
function replayOf(earlier: Image, sha256: string, visibility: Visibility): UploadResult {
  if (earlier.sha256 !== sha256)
    throw new AppError(
      'IDEMPOTENCY_KEY_MISMATCH',
      'This Idempotency-Key was used for an upload of other bytes: use a new key for a new image',
    )
  if (earlier.visibility !== visibility)
    throw new AppError(
      'IDEMPOTENCY_KEY_MISMATCH',
      `This Idempotency-Key was used for a ${earlier.visibility} upload of these bytes, not a ${visibility} one`,
    )
  return { image: earlier, created: false, outcome: 'replayed' }
}

function checkDeclaredType(declared: string | undefined, actual: InputFormat): void {
  const type = (declared ?? '').split(';')[0]!.trim().toLowerCase()
  if (UNDECLARED.has(type)) return
  if (formatOfContentType(type) !== actual) {
    throw new AppError(
      'CONTENT_TYPE_MISMATCH',
      `Declared as ${type}, but the bytes are ${contentTypeOf(actual)}`,
    )
  }
}
