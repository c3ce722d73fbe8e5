import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'

/** DELETE /v1/images/:id: the row, the original and every variant. */
export function deleteImage(app: FastifyInstance, deps: AppDeps): void {
  app.delete<{ Params: { id: string } }>('/images/:id', async (request, reply) => {
    await deps.images.delete(principalOf(request).ownerId, request.params.id)
    return reply.code(204).send()
  })
}
