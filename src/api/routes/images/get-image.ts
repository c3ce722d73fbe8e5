import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { imageView } from '../../views.js'

/** GET /v1/images/:id: status, dimensions, placeholder and variant URLs. */
export function getImage(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Params: { id: string } }>('/images/:id', async (request, reply) => {
    const image = await deps.images.getOwned(principalOf(request).ownerId, request.params.id)
    return reply.header('cache-control', 'no-store').send(imageView(image, deps.publicUrl))
  })
}
