import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../../../errors/index.js'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { imageView } from '../../views.js'

/** POST /v1/images: a multipart `file` field or a raw image body → 202 with the queued image. */
export function uploadImage(app: FastifyInstance, deps: AppDeps): void {
  // Raw bodies are handed over as the request stream: never buffered, never size-limited by Fastify
  // (the upload inspector enforces the limit itself, with our error code).
  for (const type of ['application/octet-stream', /^image\/[\w.+-]+$/]) {
    app.addContentTypeParser(type, (_request, payload, done) => done(null, payload))
  }

  app.post('/images', async (request, reply) => {
    const { ownerId } = principalOf(request)
    const source = await uploadSource(request, deps.limits.maxUploadBytes)
    const idempotencyKey = request.headers['idempotency-key'] as string | undefined
    const result = await deps.images
      .upload(ownerId, source.body, { declaredType: source.declaredType, idempotencyKey })
      .catch((error: unknown) => {
        deps.metrics.uploads.inc({ result: (error as { code?: string }).code ?? 'INTERNAL' })
        throw error
      })
    deps.metrics.uploads.inc({ result: result.created ? 'accepted' : 'duplicate' })
    const view = imageView(result.image, deps.publicUrl)
    return reply.code(202).header('location', view.links.self).send(view)
  })
}

async function uploadSource(request: FastifyRequest, maxBytes: number): Promise<{ body: Readable; declaredType?: string }> {
  if (!request.isMultipart()) {
    if (!request.body) throw new AppError('EMPTY_UPLOAD', 'The upload is empty')
    // Fastify's built-in JSON and text parsers have already read such bodies: they are not images.
    if (!(request.body instanceof Readable)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send an image/* or multipart/form-data body')
    return { body: request.body as Readable, declaredType: request.headers['content-type'] }
  }
  // One more byte than the limit, so our inspector (not busboy) reports the overflow.
  const part = await request.file({ limits: { fileSize: maxBytes + 1, files: 1 }, throwFileSizeLimit: false })
  if (!part || part.fieldname !== 'file') {
    part?.file.resume()
    throw new AppError('MISSING_FILE_FIELD', 'Send the image in a multipart field named "file"')
  }
  return { body: part.file, declaredType: part.mimetype }
}
