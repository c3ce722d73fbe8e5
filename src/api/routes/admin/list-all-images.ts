import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../../deps.js'
import { ImagePage, PageQuery, problems } from '../../schemas.js'
import { pageView } from '../../views.js'

const PATH = '/v1/admin/images'

/**
 * GET /v1/admin/images: every owner's images, newest first, for operators (admin scope). The
 * shards are read in parallel and merged; the cursor is the last id, so pages stay stable while
 * images are added and buckets move between shards.
 */
export function listAllImages(app: FastifyInstance, deps: AppDeps): void {
  const schema = {
    summary: "List every owner's images across shards, newest first",
    tags: ['admin'],
    querystring: PageQuery,
    response: { 200: ImagePage, ...problems(400, 403) },
  }
  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/admin/images',
    { schema, config: { scope: 'admin', rateClass: 'read' } },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const page = await deps.images.listAll(limit, cursor)
      return reply
        .header('cache-control', 'private, no-cache')
        .send(pageView(page, limit, deps.links, PATH, true))
    },
  )
}
