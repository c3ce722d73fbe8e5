import type { Readable } from 'node:stream'
import { finished } from 'node:stream'
import type { Cache } from '../cache/cache.js'
import type { LimitsConfig } from '../config/schema.js'
import {
  contentTypeOf,
  formatOfContentType,
  type InputFormat,
  looksComplete,
} from '../domain/formats.js'
import { newImageId } from '../domain/ids.js'
import { type Image, objectKeys, type Visibility } from '../domain/image.js'
import { processImagePayload } from '../domain/jobs.js'
import { AppError } from '../errors/index.js'
import type { Quota } from '../metadata/shard-store.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { currentTraceparent } from '../observability/tracing.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import type { ObjectStore } from '../storage/object-store.js'
import { readAll } from '../storage/read-all.js'
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
}

export interface UploadResult {
  image: Image
  /** false when an Idempotency-Key replay returned an existing image. */
  created: boolean
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

  return {
    getOwned,

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

    async delete(ownerId: string, id: string): Promise<void> {
      await getOwned(ownerId, id)
      // Row first: a crash after it leaves unreferenced objects (harmless), never a row without its bytes.
      await metadata.forImageId(id)?.deleteImage(id)
      await deps.invalidate?.(id)
      await deletePrefix(store, objectKeys.prefix(id))
    },

    /**
     * Streams the body to the object store while inspecting it, checks the header, then commits the
     * image row with its job in one shard transaction. Any refusal removes the stored original.
     */
    async upload(ownerId: string, body: Readable, options: UploadOptions): Promise<UploadResult> {
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
      const replay = idempotencyKey
        ? await shard.findByIdempotencyKey(ownerId, idempotencyKey)
        : null
      if (replay) {
        body.resume() // the bytes are not needed again, but the request must be read to its end
        return { image: replay, created: false }
      }
      const id = newImageId(bucket)
      const key = objectKeys.original(id)
      const upload = await storeOriginal(key, body)
      try {
        await options.bodyComplete
        checkDeclaredType(options.declaredType, upload.format)
        if (!looksComplete(upload.format, upload.tail, upload.size, upload.head)) {
          throw new AppError(
            'IMAGE_TRUNCATED',
            'The image ends before its data does: the upload is truncated',
          )
        }
        const header = await readHeader(upload.head, () => readStored(key), limits)
        const newImage = {
          id,
          ownerId,
          visibility: options.visibility ?? 'public',
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
        )
        if ('existing' in created) {
          await store.delete(key)
          return { image: created.existing, created: false }
        }
        deps.afterCommit?.(created.id)
        deps.onQueued?.()
        return { image: created, created: true }
      } catch (error) {
        await store.delete(key)
        throw error
      }
    },
  }

  async function storeOriginal(key: string, body: Readable): Promise<InspectedUpload> {
    const inspector = new UploadInspector(limits.maxUploadBytes)
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

  async function readStored(key: string): Promise<Buffer> {
    const stream = await store.get(key)
    if (!stream) throw new AppError('INTERNAL', 'The stored original disappeared')
    return readAll(stream)
  }
}

export type ImageService = ReturnType<typeof createImageService>

/** The metadata cache key of an image. */
export const imageKey = (id: string) => `image:${id}`

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
