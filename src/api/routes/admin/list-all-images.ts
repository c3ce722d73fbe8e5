import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ImageService } from '../../../images/image-service.js'
import { ImagePage, PageQuery, problems } from '../../schemas.js'
import { type Links, pageView } from '../../views.js'

export interface ListAllImagesOptions {
  images: Pick<ImageService, 'listAll'>
  links: Links
}

const PATH = '/v1/admin/images'

const schema = {
  summary: "List every owner's images across shards, newest first",
  tags: ['admin'],
  querystring: PageQuery,
  response: { 200: ImagePage, ...problems(400, 403) },
}

/**
 * GET /v1/admin/images: every owner's images, newest first, for operators (admin scope). The
 * shards are read in parallel and merged; the cursor is the last id, so pages stay stable while
 * images are added and buckets move between shards.
 */
export const listAllImages: FastifyPluginAsyncTypebox<ListAllImagesOptions> = async (
  app,
  { images, links },
) => {
  app.get(
    '/admin/images',
    { schema, config: { scope: 'admin', rateClass: 'read' } },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const page = await images.listAll(limit, cursor)
      return reply
        .header('cache-control', 'private, no-cache')
        .send(pageView(page, limit, links, PATH, true))
    },
  )
}
