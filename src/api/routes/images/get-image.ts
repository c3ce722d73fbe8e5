import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { IdParams, ImageView, problems } from '../../schemas.js'
import { imageView } from '../../views.js'

/** GET /v1/images/:id: status, dimensions, placeholder and variant URLs. */
export function getImage(app: FastifyInstance, deps: AppDeps): void {
  const schema = {
    summary: 'Get an image',
    tags: ['images'],
    params: IdParams,
    response: { 200: ImageView, ...problems(404) },
  }
  app.get<{ Params: { id: string } }>(
    '/images/:id',
    { schema, config: { scope: 'images:read', rateClass: 'read' } },
    async (request, reply) => {
      const image = await deps.images.getOwned(principalOf(request).ownerId, request.params.id)
      return reply.header('cache-control', 'private, no-cache').send(imageView(image, deps.links))
    },
  )
}
