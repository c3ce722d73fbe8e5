import { Readable } from 'node:stream'
import type { MultipartFile } from '@fastify/multipart'
import type { SwaggerTransform } from '@fastify/swagger'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Principal } from '../../../auth/principal.js'
import type { Visibility } from '../../../domain/image.js'
import { AppError, isAppError } from '../../../errors/index.js'
import type { ImageService, UploadResult } from '../../../images/image-service.js'
import type { Metrics } from '../../../observability/metrics.js'
import type { Uploader } from '../../../uploads/types.js'
import { principalOf } from '../../authenticate.js'
import { ImageView, problems } from '../../schemas.js'
import { imageView, type Links } from '../../views.js'

export interface UploadImageOptions {
  images: Pick<ImageService, 'upload' | 'uploadFromUrl'>
  metrics: Pick<Metrics, 'uploads'>
  links: Links
  maxUploadBytes: number
  /** An upload token's bounds (its maxBytes, forced visibility, one of its uses); src/uploads. */
  uploaderOf?: (principal: Principal) => Uploader
  refund?: (tokenId: string) => Promise<void>
}

const VisibilityParam = Type.Union([Type.Literal('public'), Type.Literal('private')], {
  description: 'private: variants only through signed, expiring URLs. Without it: public',
})

/** `{"url": …}`: the server fetches the image (the only body Fastify itself validates). */
const UrlUpload = Type.Object(
  {
    url: Type.String({ maxLength: 2048, description: 'An http or https URL of the image' }),
    visibility: Type.Optional(VisibilityParam),
  },
  { additionalProperties: false },
)

const schema = {
  summary: 'Upload an image: a raw image body, a multipart field "file", or {"url": …}',
  description:
    'Answers 202 with the queued image. The same Idempotency-Key with the same bytes (and ' +
    'visibility) answers 202 with the first image and Idempotent-Replayed: true; with other ' +
    'bytes, 422 IDEMPOTENCY_KEY_MISMATCH. Bytes the owner already uploaded (and that have not ' +
    'failed) answer 200 with that image and Pixelflow-Deduplicated: true, unless the server ' +
    'runs with PIXELFLOW_DEDUPE=false.',
  tags: ['images'],
  querystring: Type.Object({ visibility: Type.Optional(VisibilityParam) }),
  headers: Type.Object({
    'idempotency-key': Type.Optional(
      Type.String({
        description: 'Same key, same owner, same bytes: the same image, no second job',
      }),
    ),
  }),
  // Raw and multipart bodies are streams Fastify cannot validate: they are documented for
  // /openapi.json by documentUploadBody below, and checked by the upload itself.
  body: { content: { 'application/json': { schema: UrlUpload } } },
  response: { 200: ImageView, 202: ImageView, ...problems(400, 413, 415, 422, 502) },
}

/** The raw types an upload may declare; without any Content-Type the bytes are sniffed. */
const RAW_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/avif',
  'image/gif',
  'image/tiff',
  'application/octet-stream',
]

const SEND_ONE_OF =
  `Send the image as a raw body (${RAW_TYPES.join(', ')}, or with no Content-Type: the bytes ` +
  'are sniffed), as multipart/form-data with a "file" field, or as application/json {"url": …}'

const BINARY = { type: 'string', format: 'binary' }

const TRUE_HEADER = { type: 'string', enum: ['true'] }

/**
 * What /openapi.json says about the body (@fastify/swagger's per-route transform): the JSON body
 * from the route schema, plus the stream bodies only the handler reads. A multipart form with a
 * `file` of format binary and a raw binary body are what Swagger UI ("Try it out") and generated
 * clients turn into a file upload. The answers' headers are documented here too.
 */
const documentUploadBody: SwaggerTransform = ({ schema: route, url }) => {
  const json = (route.body as { content: Record<string, unknown> }).content
  const form = {
    type: 'object',
    required: ['file'],
    properties: {
      visibility: { ...VisibilityParam, description: 'Before "file" in the form; or in the query' },
      file: { ...BINARY, description: 'The image' },
    },
  }
  const raw = Object.fromEntries(RAW_TYPES.map((type) => [type, { schema: BINARY }]))
  return {
    url,
    schema: {
      ...route,
      body: { content: { 'multipart/form-data': { schema: form }, ...raw, ...json } },
      response: {
        ...(route.response as Record<string, unknown>),
        200: {
          $ref: 'Image#',
          description: 'The owner already had these bytes: that image',
          headers: { 'pixelflow-deduplicated': TRUE_HEADER },
        },
        202: {
          $ref: 'Image#',
          description: 'Accepted and queued; or the replay of an upload with this Idempotency-Key',
          headers: { 'idempotent-replayed': { ...TRUE_HEADER, description: 'Only on a replay' } },
        },
      },
    },
  }
}

/**
 * Raw bodies are handed over as the request stream: never buffered, never size-limited by Fastify
 * (the upload inspector enforces the limit itself, with our error code).
 */
export function acceptRawImages(app: FastifyInstance): void {
  for (const type of ['application/octet-stream', /^image\/[\w.+-]+$/]) {
    app.addContentTypeParser(type, (_request, payload, done) => done(null, payload))
  }
  // Fastify's catch-all: a body without any Content-Type (curl -H 'Content-Type:', a fetch of a
  // Blob without a type) is sniffed like application/octet-stream; any other type that no parser
  // takes is refused with what to send instead of Fastify's bare 415.
  app.addContentTypeParser('*', (request, payload, done) => {
    if (request.headers['content-type'] === undefined) done(null, payload)
    else done(new AppError('UNSUPPORTED_MEDIA_TYPE', SEND_ONE_OF), undefined)
  })
}

/**
 * POST /v1/images: a raw image body, a multipart `file` field, or `{"url": …}` → 202 with the
 * queued image (200 for a duplicate of the owner's earlier upload).
 */
export const uploadImage: FastifyPluginAsyncTypebox<UploadImageOptions> = async (app, options) => {
  const { images, metrics, links, maxUploadBytes } = options
  app.post(
    '/images',
    {
      schema,
      // images:upload: what images:write implies, and all an upload token holds.
      config: { scope: 'images:upload', rateClass: 'upload', swaggerTransform: documentUploadBody },
      onRequest: async (request) => refuseDeclaredOverLimit(request, maxUploadBytes),
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { ownerId } = principal
      const uploader = options.uploaderOf?.(principal)
      await uploader?.claim?.().catch((error: unknown) => {
        drainRest(request)
        throw error
      })
      const fetched = urlUpload(request.body)
      const upload = fetched
        ? images
            .uploadFromUrl(ownerId, fetched.url, {
              idempotencyKey: request.headers['idempotency-key'],
              visibility:
                uploader?.visibility ?? oneVisibility(request.query.visibility, fetched.visibility),
              maxBytes: uploader?.maxBytes,
            })
            .catch((error: unknown) => {
              if (uploader?.tokenId) void options.refund?.(uploader.tokenId).catch(() => {})
              throw error
            })
        : streamed(request, options, uploader, request.query.visibility)
      const result = await counted(metrics, upload)
      const view = imageView(result.image, links)
      reply.header('location', view.links.self)
      if (result.outcome === 'replayed') reply.header('idempotent-replayed', 'true')
      if (result.outcome === 'deduplicated') reply.header('pixelflow-deduplicated', 'true')
      // A duplicate is an image that exists already, not one accepted for processing now; a
      // replay answers as the first request was answered.
      return reply.code(result.outcome === 'deduplicated' ? 200 : 202).send(view)
    },
  )
}

/** A raw or multipart body: streamed through the upload inspector into the store. */
async function streamed(
  request: FastifyRequest,
  options: UploadImageOptions,
  uploader: Uploader | undefined,
  query: Visibility | undefined,
): Promise<UploadResult> {
  const { ownerId } = principalOf(request)
  const source = await uploadSource(request, options.maxUploadBytes).catch((error: unknown) => {
    drainRest(request)
    throw error
  })
  return options.images
    .upload(ownerId, source.body, {
      declaredType: source.declaredType,
      idempotencyKey: request.headers['idempotency-key'] as string | undefined,
      visibility: uploader?.visibility ?? oneVisibility(query, source.visibility),
      bodyComplete: source.complete,
      maxBytes: uploader?.maxBytes,
    })
    .catch((error: unknown) => {
      if (uploader?.tokenId) void options.refund?.(uploader.tokenId).catch(() => {})
      if (request.isMultipart()) drainRest(request)
      throw source.bodyError() ? clientBodyError(request, error) : error
    })
}

/** The JSON body, once Fastify parsed and validated it against UrlUpload; null for a stream. */
function urlUpload(body: unknown): { url: string; visibility?: Visibility } | null {
  if (body === null || typeof body !== 'object' || body instanceof Readable) return null
  return body as { url: string; visibility?: Visibility }
}

/** Visibility may come in the query or in the body (a form field, the JSON): not two answers. */
function oneVisibility(query?: Visibility, body?: Visibility): Visibility | undefined {
  if (query && body && query !== body)
    throw new AppError('BAD_REQUEST', `visibility is ${query} in the query but ${body} in the body`)
  return query ?? body
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

function visibilityField(value: unknown): Visibility {
  if (value === 'public' || value === 'private') return value
  throw new AppError('BAD_REQUEST', 'The "visibility" field is "public" or "private"')
}

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
  /** A multipart `visibility` field (before the file). */
  visibility?: Visibility | undefined
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
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', SEND_ONE_OF)
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
  let visibility: Visibility | undefined
  for (;;) {
    const { done, value: part } = await next()
    if (done) break
    checkField(part as Part)
    if (part.type !== 'file') {
      if (part.fieldname === 'visibility') visibility = visibilityField(part.value)
      continue
    }
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
        // The upload is under way by now: its visibility had to come first.
        if (rest.value.type === 'field' && rest.value.fieldname === 'visibility')
          throw new AppError('BAD_REQUEST', 'The "visibility" field must come before "file"')
        if (rest.value.type === 'file') {
          rest.value.file.resume()
          throw new AppError('MULTIPART_LIMIT_EXCEEDED', 'A multipart upload holds one file')
        }
      }
    })()
    complete.catch(() => {}) // awaited by the upload; unobserved only when the upload failed first
    return {
      body: part.file,
      declaredType: part.mimetype,
      visibility,
      complete,
      bodyError: () => failed,
    }
  }
  throw new AppError('MISSING_FILE_FIELD', 'Send the image in a multipart field named "file"')
}
