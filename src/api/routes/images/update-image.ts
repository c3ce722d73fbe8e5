import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { FocalPointSchema } from '../../../domain/image.js'
import type { ImageService } from '../../../images/image-service.js'
import { principalOf } from '../../authenticate.js'
import { IdParams, ImageView, problems } from '../../schemas.js'
import { imageView, type Links } from '../../views.js'

export interface UpdateImageOptions {
  images: Pick<ImageService, 'setFocalPoint'>
  links: Links
}

const schema = {
  summary: 'Update an image',
  description:
    'Sets the focal point (fractions of the width and height from the top left; null clears it). On-the-fly cover crops that name no gravity keep it in frame; results rendered before are not served again, because the focal point is part of what names them.',
  tags: ['images'],
  params: IdParams,
  body: Type.Object(
    { focalPoint: Type.Union([FocalPointSchema, Type.Null()]) },
    { additionalProperties: false },
  ),
  response: { 200: ImageView, ...problems(400, 404) },
}

/** PATCH /v1/images/:id */
export const updateImage: FastifyPluginAsyncTypebox<UpdateImageOptions> = async (
  app,
  { images, links },
) => {
  app.patch(
    '/images/:id',
    { schema, config: { scope: 'images:write', rateClass: 'read' } },
    async (request, reply) => {
      const { ownerId } = principalOf(request)
      const image = await images.setFocalPoint(ownerId, request.params.id, request.body.focalPoint)
      return reply.header('cache-control', 'private, no-cache').send(imageView(image, links))
    },
  )
}
