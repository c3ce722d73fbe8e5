import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../../../errors/index.js'
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
    { schema, config: { scope: 'images:write', rateClass: 'upload' } },
    async (request, reply) => {
      const { ownerId } = principalOf(request)
      const source = await uploadSource(request, maxUploadBytes)
      const upload = images.upload(ownerId, source.body, {
        declaredType: source.declaredType,
        idempotencyKey: request.headers['idempotency-key'],
        visibility: request.query.visibility,
      })
      const view = imageView((await counted(metrics, upload)).image, links)
      return reply.code(202).header('location', view.links.self).send(view)
    },
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

async function uploadSource(
  request: FastifyRequest,
  maxBytes: number,
): Promise<{ body: Readable; declaredType?: string }> {
  if (!request.isMultipart()) {
    if (!request.body) throw new AppError('EMPTY_UPLOAD', 'The upload is empty')
    // Fastify's built-in JSON and text parsers have already read such bodies: they are not images.
    if (!(request.body instanceof Readable))
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send an image/* or multipart/form-data body')
    return { body: request.body, declaredType: request.headers['content-type'] }
  }
  // One more byte than the limit, so our inspector (not busboy) reports the overflow.
  const part = await request.file({
    limits: { fileSize: maxBytes + 1, files: 1 },
    throwFileSizeLimit: false,
  })
  if (part?.fieldname !== 'file') {
    part?.file.resume()
    throw new AppError('MISSING_FILE_FIELD', 'Send the image in a multipart field named "file"')
  }
  return { body: part.file, declaredType: part.mimetype }
}
