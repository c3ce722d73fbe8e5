import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { formatOfContentType } from '../domain/formats.js'
import type { Image, Visibility } from '../domain/image.js'
import { AppError, isAppError } from '../errors/index.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { PresignedPut, Presigner } from './s3-presigner.js'
import type { UploadTables } from './tables.js'
import type { Uploader, UploadImage } from './types.js'

export interface DirectUploadsDeps {
  db: Kysely<UploadTables>
  store: Pick<ObjectStore, 'head' | 'get' | 'delete'>
  /** null when the storage driver cannot presign (local disk): every call is then refused. */
  presign: Presigner | null
  upload: UploadImage
  /** An owner's image by id (IMAGE_NOT_FOUND otherwise): a second completion answers it again. */
  getImage: (ownerId: string, imageId: string) => Promise<Image>
  refund?: (tokenId: string) => Promise<void>
  /** How long an announced upload may wait for its completion before the sweep removes it. */
  expirySeconds: number
  urlTtlSeconds: number
}

export interface DirectUploadRequest {
  contentType: string
  bytes: number
  visibility?: Visibility | undefined
  idempotencyKey?: string | undefined
}

export interface DirectUpload {
  id: string
  /** Epoch milliseconds: completing later is UPLOAD_EXPIRED, and the sweep removes it. */
  expiresAt: number
  upload: PresignedPut
}

/** The staging key of a direct upload: outside images/, so no image row ever claims it. */
export const stagingKey = (id: string) => `uploads/${id}`

type Row = Selectable<UploadTables['direct_uploads']>

/**
 * Direct-to-S3 uploads: the client announces the type and size, PUTs the bytes straight to the
 * bucket with a presigned request, then completes. Completing checks the object (present, the
 * announced size) and streams it through the image pipeline, which checks its magic bytes against
 * the announced type, its dimensions and the limits, exactly as for a plain upload.
 */
export function createDirectUploads(deps: DirectUploadsDeps) {
  const { db, store } = deps

  async function rowOf(ownerId: string, id: string): Promise<Row> {
    const row = await db
      .selectFrom('direct_uploads')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    // Another owner's upload is reported exactly like a missing one.
    if (!row || row.owner_id !== ownerId) throw new AppError('UPLOAD_NOT_FOUND', `No upload ${id}`)
    return row
  }

  const discard = (row: Row) => discardUpload({ db, store }, row)

  return {
    async create(uploader: Uploader, request: DirectUploadRequest): Promise<DirectUpload> {
      if (!deps.presign)
        throw new AppError(
          'DIRECT_UPLOAD_UNAVAILABLE',
          'Direct uploads need the S3 storage driver; upload with POST /v1/images or tus instead',
        )
      if (!formatOfContentType(request.contentType))
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          'contentType must be image/jpeg, image/png, image/webp, image/avif, image/gif or image/tiff',
        )
      if (request.bytes > uploader.maxBytes)
        throw new AppError('UPLOAD_TOO_LARGE', `The upload exceeds ${uploader.maxBytes} bytes`)
      await uploader.claim?.()
      const id = randomBytes(16).toString('hex')
      const now = Date.now()
      const expiresAt = now + deps.expirySeconds * 1000
      await db
        .insertInto('direct_uploads')
        .values({
          id,
          owner_id: uploader.ownerId,
          content_type: request.contentType,
          bytes: request.bytes,
          visibility: uploader.visibility ?? request.visibility ?? 'public',
          // Always a key: two completions racing each other make one image, not two.
          idempotency_key: request.idempotencyKey ?? `direct-upload:${id}`,
          token_id: uploader.tokenId ?? null,
          created_at: now,
          expires_at: expiresAt,
          image_id: null,
        })
        .execute()
      const expiresInSeconds = Math.min(deps.urlTtlSeconds, deps.expirySeconds)
      const upload = await deps.presign(stagingKey(id), { ...request, expiresInSeconds })
      return { id, expiresAt, upload }
    },

    /** The object becomes an image; a second completion answers the same image. */
    async complete(ownerId: string, id: string): Promise<{ image: Image; created: boolean }> {
      const row = await rowOf(ownerId, id)
      if (row.image_id) return { image: await deps.getImage(ownerId, row.image_id), created: false }
      if (row.expires_at < Date.now()) {
        await discard(row)
        throw new AppError('UPLOAD_EXPIRED', `Upload ${id} was not completed in time`)
      }
      const head = await store.head(stagingKey(id))
      if (!head)
        throw new AppError(
          'UPLOAD_OBJECT_MISSING',
          'Put the bytes with the presigned request first',
        )
      if (head.size !== row.bytes) {
        // The presigned request may still be used again with the right bytes.
        await store.delete(stagingKey(id))
        throw new AppError(
          'UPLOAD_SIZE_MISMATCH',
          `The object holds ${head.size} bytes; ${row.bytes} were announced`,
        )
      }
      const result = await pipe(row)
      await db
        .updateTable('direct_uploads')
        .set({ image_id: result.image.id })
        .where('id', '=', id)
        .execute()
      await store.delete(stagingKey(id))
      return result
    },

    /** See sweepDirectUploads. */
    sweep: (nowMs = Date.now()) => sweepDirectUploads({ db, store }, nowMs),
  }

  async function pipe(row: Row) {
    const body = await store.get(stagingKey(row.id))
    if (!body) throw new AppError('UPLOAD_OBJECT_MISSING', 'The uploaded object disappeared')
    try {
      return await deps.upload(row.owner_id, body, {
        declaredType: row.content_type,
        idempotencyKey: row.idempotency_key ?? undefined,
        visibility: row.visibility === 'private' ? 'private' : 'public',
        maxBytes: row.bytes,
      })
    } catch (error) {
      // Bytes the pipeline refused are not kept, and a token's use goes back.
      if (isAppError(error) && error.statusCode < 500) {
        await discard(row)
        if (row.token_id) await deps.refund?.(row.token_id).catch(() => {})
      }
      throw error
    }
  }
}

export type DirectUploads = ReturnType<typeof createDirectUploads>

type SweepDeps = Pick<DirectUploadsDeps, 'db'> & { store: Pick<ObjectStore, 'delete'> }

/** The staging object first: a crash between the two leaves a row the next sweep finishes. */
async function discardUpload({ db, store }: SweepDeps, row: Pick<Row, 'id'>): Promise<void> {
  await store.delete(stagingKey(row.id))
  await db.deleteFrom('direct_uploads').where('id', '=', row.id).execute()
}

/**
 * Removes direct uploads past their deadline: announced and never completed (object and row), and
 * the rows of completed ones (after which completing again is 404). Answers how many it removed;
 * at most 500 a run, the next run takes the rest.
 */
export async function sweepDirectUploads(deps: SweepDeps, nowMs: number): Promise<number> {
  const expired = await deps.db
    .selectFrom('direct_uploads')
    .select('id')
    .where('expires_at', '<', nowMs)
    .limit(500)
    .execute()
  for (const row of expired) await discardUpload(deps, row)
  return expired.length
}
