import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ImageService } from '../../../images/image-service.js'
import { principalOf } from '../../authenticate.js'
import { IdParams, NoContent, problems } from '../../schemas.js'

export interface DeleteImageOptions {
  images: Pick<ImageService, 'delete'>
}

const schema = {
  summary: 'Delete an image and all its files',
  tags: ['images'],
  params: IdParams,
  response: { 204: NoContent, ...problems(404) },
}

/** DELETE /v1/images/:id: the row, the original and every variant. */
export const deleteImage: FastifyPluginAsyncTypebox<DeleteImageOptions> = async (
  app,
  { images },
) => {
  // A delete spends from the general API budget ("reads"): only uploads have a budget of their own.
  app.delete(
    '/images/:id',
    { schema, config: { scope: 'images:write', rateClass: 'read' } },
    async (request, reply) => {
      await images.delete(principalOf(request).ownerId, request.params.id)
      return reply.code(204).send()
    },
  )
}
