import { randomUUID } from 'node:crypto'
import multipart from '@fastify/multipart'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { AppError } from '../errors/index.js'
import { authenticate } from './authenticate.js'
import type { AppDeps } from './deps.js'
import { installErrorHandling } from './error-handler.js'
import { getVariant } from './routes/delivery/get-variant.js'
import { health } from './routes/health/health.js'
import { deleteImage } from './routes/images/delete-image.js'
import { getImage } from './routes/images/get-image.js'
import { listImages } from './routes/images/list-images.js'
import { uploadImage } from './routes/images/upload-image.js'

export type { AppDeps } from './deps.js'

/** Builds the HTTP app from its dependencies. Never listens: tests use inject(), start/ listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (request) => validRequestId(request.headers['x-request-id']) ?? randomUUID(),
    // Our own hook answers requests that arrive while closing, in the problem+json format.
    return503OnClosing: false,
  })
  app.decorateRequest('principal', null)
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async () => {
    if (closing) throw new AppError('SHUTTING_DOWN', 'The server is shutting down; retry on another instance')
  })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  installErrorHandling(app)

  health(app, deps)
  getVariant(app, deps)
  await app.register(async (v1) => {
    await v1.register(multipart)
    v1.addHook('onRequest', authenticate(deps.apiKeys))
    for (const route of [uploadImage, getImage, listImages, deleteImage]) route(v1, deps)
  }, { prefix: '/v1' })
  return app
}

/** A caller's request id is kept only when it is short and plain, so it cannot poison logs. */
function validRequestId(value: unknown): string | null {
  return typeof value === 'string' && /^[\w.:-]{1,128}$/.test(value) ? value : null
}
