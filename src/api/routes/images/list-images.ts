import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { ImagePage, PageQuery, problems } from '../../schemas.js'
import { pageView } from '../../views.js'

/** GET /v1/images: the owner's images, newest first, keyset pagination by cursor. */
export function listImages(app: FastifyInstance, deps: AppDeps): void {
  const schema = {
    summary: "List the caller's images, newest first",
    tags: ['images'],
    querystring: PageQuery,
    response: { 200: ImagePage, ...problems(400) },
  }
  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/images',
    { schema, config: { scope: 'images:read', rateClass: 'read' } },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const page = await deps.images.list(principalOf(request).ownerId, limit, cursor)
      return reply
        .header('cache-control', 'private, no-cache')
        .send(pageView(page, limit, deps.links))
    },
  )
}
