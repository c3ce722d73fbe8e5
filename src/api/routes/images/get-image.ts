import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ImageService } from '../../../images/image-service.js'
import { principalOf } from '../../authenticate.js'
import { IdParams, ImageView, problems } from '../../schemas.js'
import { imageView, type Links } from '../../views.js'

export interface GetImageOptions {
  images: Pick<ImageService, 'getOwned'>
  links: Links
}

const schema = {
  summary: 'Get an image',
  tags: ['images'],
  params: IdParams,
  response: { 200: ImageView, ...problems(404) },
}

/** GET /v1/images/:id: status, dimensions, placeholder and variant URLs. */
export const getImage: FastifyPluginAsyncTypebox<GetImageOptions> = async (
  app,
  { images, links },
) => {
  app.get(
    '/images/:id',
    { schema, config: { scope: 'images:read', rateClass: 'read' } },
    async (request, reply) => {
      const image = await images.getOwned(principalOf(request).ownerId, request.params.id)
      return reply.header('cache-control', 'private, no-cache').send(imageView(image, links))
    },
  )
}
