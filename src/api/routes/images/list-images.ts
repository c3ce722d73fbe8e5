import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ImageService } from '../../../images/image-service.js'
import { principalOf } from '../../authenticate.js'
import { ImagePage, PageQuery, problems } from '../../schemas.js'
import { type Links, pageView } from '../../views.js'

export interface ListImagesOptions {
  images: Pick<ImageService, 'list'>
  links: Links
}

const schema = {
  summary: "List the caller's images, newest first",
  tags: ['images'],
  querystring: PageQuery,
  response: { 200: ImagePage, ...problems(400) },
}

/** GET /v1/images: the owner's images, newest first, keyset pagination by cursor. */
export const listImages: FastifyPluginAsyncTypebox<ListImagesOptions> = async (
  app,
  { images, links },
) => {
  app.get(
    '/images',
    { schema, config: { scope: 'images:read', rateClass: 'read' } },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const page = await images.list(principalOf(request).ownerId, limit, cursor)
      return reply.header('cache-control', 'private, no-cache').send(pageView(page, limit, links))
    },
  )
}
