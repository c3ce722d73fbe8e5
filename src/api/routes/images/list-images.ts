import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { ImageView, problems } from '../../schemas.js'
import { imageView } from '../../views.js'

const Query = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page' })),
})

const Page = Type.Object({
  items: Type.Array(ImageView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  links: Type.Object({ next: Type.Optional(Type.String()) }),
})

/** GET /v1/images: the owner's images, newest first, keyset pagination by cursor. */
export function listImages(app: FastifyInstance, deps: AppDeps): void {
  const schema = { summary: "List the caller's images, newest first", tags: ['images'], querystring: Query, response: { 200: Page, ...problems(400) } }
  app.get<{ Querystring: { limit: number; cursor?: string } }>('/images', { schema, config: { scope: 'images:read', rateClass: 'read' } }, async (request, reply) => {
    const { limit, cursor } = request.query
    const page = await deps.images.list(principalOf(request).ownerId, limit, cursor)
    return reply.header('cache-control', 'private, no-cache').send({
      items: page.images.map((image) => imageView(image, deps.links)),
      nextCursor: page.next,
      links: page.next ? { next: deps.links.list(`limit=${limit}&cursor=${page.next}`) } : {},
    })
  })
}
