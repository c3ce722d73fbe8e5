import { Readable } from 'node:stream'
import type { MultipartFile } from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError, isAppError } from '../../../errors/index.js'
import type { ImageService, UploadResult } from '../../../images/image-service.js'
import type { Metrics } from '../../../observability/metrics.js'
import { principalOf } from '../../authenticate.js'
import { ImageView, problems } from '../../schemas.js'
import { imageView, type Links } from '../../views.js'

export interface UploadImageOptions {
  images: Pick<ImageService, 'upload'>
  metrics: Pick<Metrics, 'uploads'>
  links: Links
  maxUploadBytes: number
}

const schema = {
  summary: 'Upload an image (multipart field "file", or a raw image body); answers 202 at once',
  tags: ['images'],
  consumes: [
    'multipart/form-data',
    'image/jpeg',
    'image/png',
    'image/webp',
    'image/avif',
    'image/gif',
    'image/tiff',
    'application/octet-stream',
  ],
  querystring: Type.Object({
    visibility: Type.Union([Type.Literal('public'), Type.Literal('private')], {
      default: 'public',
      description: 'private: variants only through signed, expiring URLs',
    }),
  }),
  headers: Type.Object({
    'idempotency-key': Type.Optional(
      Type.String({ description: 'Same key, same owner: the same image, no second job' }),
    ),
  }),
  response: { 202: ImageView, ...problems(400, 413, 415, 422) },
}

/**
 * Raw bodies are handed over as the request stream: never buffered, never size-limited by Fastify
 * (the upload inspector enforces the limit itself, with our error code).
 */
export function acceptRawImages(app: FastifyInstance): void {
  for (const type of ['application/octet-stream', /^image\/[\w.+-]+$/]) {
    app.addContentTypeParser(type, (_request, payload, done) => done(null, payload))
  }
}

/** POST /v1/images: a multipart `file` field or a raw image body → 202 with the queued image. */
export const uploadImage: FastifyPluginAsyncTypebox<UploadImageOptions> = async (app, options) => {
  const { images, metrics, links, maxUploadBytes } = options
  app.post(
    '/images',
    {
      schema,
      config: { scope: 'images:write', rateClass: 'upload' },
      onRequest: async (request) => refuseDeclaredOverLimit(request, maxUploadBytes),
    },
    async (request, reply) => {
      const { ownerId } = principalOf(request)
      const source = await uploadSource(request, maxUploadBytes).catch((error: unknown) => {
        drainRest(request)
        throw error
      })
      const upload = images
        .upload(ownerId, source.body, {
          declaredType: source.declaredType,
          idempotencyKey: request.headers['idempotency-key'],
          visibility: request.query.visibility,
          bodyComplete: source.complete,
        })
        .catch((error: unknown) => {
          if (request.isMultipart()) drainRest(request)
          throw source.bodyError() ? clientBodyError(request, error) : error
        })
      const view = imageView((await counted(metrics, upload)).image, links)
      return reply.code(202).header('location', view.links.self).send(view)
    },
  )
}

/**
 * A multipart body may carry a few small fields beside its one file, and nothing else: busboy
 * holds fields in memory, so their number and size are bounded like the file's bytes.
 */
const MULTIPART_LIMITS = {
  files: 1,
  fields: 8,
  parts: 9,
  fieldSize: 1024,
  fieldNameSize: 100,
  headerPairs: 16,
}

/** Room for the multipart framing and the small fields around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024

/**
 * After a refusal the parser lets go of the request, which would then sit paused: the rest is
 * read and dropped (bounded by the request timeout) so the client gets its 4xx, as a raw upload's
 * refusal does.
 */
function drainRest(request: FastifyRequest): void {
  request.raw.unpipe()
  request.raw.resume()
}

/** A body announced larger than any acceptable upload is refused before a byte of it is read. */
function refuseDeclaredOverLimit(request: FastifyRequest, maxBytes: number): void {
  const declared = Number(request.headers['content-length'] ?? 0)
  if (declared > maxBytes + MULTIPART_OVERHEAD_BYTES)
    throw new AppError('UPLOAD_TOO_LARGE', `The upload exceeds ${maxBytes} bytes`)
}

const LIMIT_CODES = new Set(['FST_PARTS_LIMIT', 'FST_FILES_LIMIT', 'FST_FIELDS_LIMIT'])

/**
 * What busboy and @fastify/multipart throw, in our codes: a limit is a 413, anything else they
 * report (no boundary, a part cut off, broken headers) is the body's fault, a 400. An error of a
 * request the client abandoned is passed on as it is: the error handler knows it for an abort.
 */
function multipartError(request: FastifyRequest, error: unknown): unknown {
  if (isAppError(error)) return error
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && LIMIT_CODES.has(code))
    return new AppError(
      'MULTIPART_LIMIT_EXCEEDED',
      `A multipart upload holds one file and at most ${MULTIPART_LIMITS.fields} small fields`,
      { cause: error },
    )
  return clientBodyError(request, error)
}

/** The request stream itself failed: an abort stays an abort, otherwise the body was malformed. */
function clientBodyError(request: FastifyRequest, error: unknown): unknown {
  if (isAppError(error) || request.raw.readableAborted || request.raw.socket?.destroyed)
    return error
  return new AppError('MULTIPART_MALFORMED', 'The multipart body cannot be parsed', {
    cause: error,
  })
}

type Part = { type: 'field'; fieldnameTruncated: boolean; valueTruncated: boolean } | MultipartFile

function checkField(part: Part): void {
  if (part.type === 'field' && (part.valueTruncated || part.fieldnameTruncated))
    throw new AppError(
      'MULTIPART_LIMIT_EXCEEDED',
      `A multipart field may hold at most ${MULTIPART_LIMITS.fieldSize} bytes`,
    )
}

/** Every upload is counted by its outcome: accepted, duplicate, or the code that refused it. */
async function counted(
  metrics: UploadImageOptions['metrics'],
  upload: Promise<UploadResult>,
): Promise<UploadResult> {
  const result = await upload.catch((error: unknown) => {
    metrics.uploads.inc({ result: (error as { code?: string }).code ?? 'INTERNAL' })
    throw error
  })
  metrics.uploads.inc({ result: result.created ? 'accepted' : 'duplicate' })
  return result
}

interface UploadSource {
  body: Readable
  declaredType?: string | undefined
  /** Settles when the rest of the body has been read and found acceptable. */
  complete?: Promise<void>
  /** Whether the body stream itself failed (a malformed part, an abort), not our handling of it. */
  bodyError: () => boolean
}

async function uploadSource(request: FastifyRequest, maxBytes: number): Promise<UploadSource> {
  if (!request.isMultipart()) {
    if (!request.body) throw new AppError('EMPTY_UPLOAD', 'The upload is empty')
    // Fastify's built-in JSON and text parsers have already read such bodies: they are not images.
    if (!(request.body instanceof Readable))
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send an image/* or multipart/form-data body')
    return {
      body: request.body,
      declaredType: request.headers['content-type'],
      bodyError: () => request.raw.readableAborted,
    }
  }
  const options = {
    // One more byte than the limit, so our inspector (not busboy) reports the overflow.
    limits: { ...MULTIPART_LIMITS, fileSize: maxBytes + 1 },
    // Read by @fastify/multipart from these options too, though its types list it only globally.
    throwFileSizeLimit: false,
  }
  const parts = request.parts(options)[Symbol.asyncIterator]()
  const next = () =>
    parts.next().catch((error: unknown) => {
      throw multipartError(request, error)
    })
  for (;;) {
    const { done, value: part } = await next()
    if (done) break
    checkField(part as Part)
    if (part.type !== 'file') continue
    if (part.fieldname !== 'file') {
      part.file.resume()
      break
    }
    let failed = false
    part.file.once('error', () => {
      failed = true
    })
    // The parts after the file are read while the file streams: a second file or one field too
    // many refuses the upload before its row is committed.
    const complete = (async () => {
      for (;;) {
        const rest = await next()
        if (rest.done) return
        checkField(rest.value as Part)
        if (rest.value.type === 'file') {
          rest.value.file.resume()
          throw new AppError('MULTIPART_LIMIT_EXCEEDED', 'A multipart upload holds one file')
        }
      }
    })()
    complete.catch(() => {}) // awaited by the upload; unobserved only when the upload failed first
    return { body: part.file, declaredType: part.mimetype, complete, bodyError: () => failed }
  }
  throw new AppError('MISSING_FILE_FIELD', 'Send the image in a multipart field named "file"')
}
