import { Readable } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Visibility } from '../../../domain/image.js'
import { AppError } from '../../../errors/index.js'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { ImageView, problems } from '../../schemas.js'
import { imageView } from '../../views.js'

const Query = Type.Object({
  visibility: Type.Union([Type.Literal('public'), Type.Literal('private')], {
    default: 'public',
    description: 'private: variants only through signed, expiring URLs',
  }),
})

/** POST /v1/images: a multipart `file` field or a raw image body → 202 with the queued image. */
export function uploadImage(app: FastifyInstance, deps: AppDeps): void {
  // Raw bodies are handed over as the request stream: never buffered, never size-limited by Fastify
  // (the upload inspector enforces the limit itself, with our error code).
  for (const type of ['application/octet-stream', /^image\/[\w.+-]+$/]) {
    app.addContentTypeParser(type, (_request, payload, done) => done(null, payload))
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
    querystring: Query,
    headers: Type.Object({
      'idempotency-key': Type.Optional(
        Type.String({ description: 'Same key, same owner: the same image, no second job' }),
      ),
    }),
    response: { 202: ImageView, ...problems(400, 413, 415, 422) },
  }

  app.post<{ Querystring: { visibility: Visibility } }>(
    '/images',
    { schema, config: { scope: 'images:write', rateClass: 'upload' } },
    async (request, reply) => {
      const { ownerId } = principalOf(request)
      const source = await uploadSource(request, deps.limits.maxUploadBytes)
      const options = {
        declaredType: source.declaredType,
        idempotencyKey: request.headers['idempotency-key'] as string | undefined,
        visibility: request.query.visibility,
      }
      const result = await deps.images
        .upload(ownerId, source.body, options)
        .catch((error: unknown) => {
          deps.metrics.uploads.inc({ result: (error as { code?: string }).code ?? 'INTERNAL' })
          throw error
        })
      deps.metrics.uploads.inc({ result: result.created ? 'accepted' : 'duplicate' })
      const view = imageView(result.image, deps.links)
      return reply.code(202).header('location', view.links.self).send(view)
    },
  )
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
