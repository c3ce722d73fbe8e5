import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { imageView } from '../../views.js'

const Query = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ maxLength: 64 })),
})

/** GET /v1/images: the owner's images, newest first, keyset pagination by cursor. */
export function listImages(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Querystring: { limit: number; cursor?: string } }>('/images', { schema: { querystring: Query } }, async (request, reply) => {
    const { limit, cursor } = request.query
    const page = await deps.images.list(principalOf(request).ownerId, limit, cursor)
    return reply.header('cache-control', 'no-store').send({
      items: page.images.map((image) => imageView(image, deps.publicUrl)),
      nextCursor: page.next,
      links: page.next ? { next: `${deps.publicUrl}/v1/images?limit=${limit}&cursor=${page.next}` } : {},
    })
  })
}
