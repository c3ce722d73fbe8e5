import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../../authenticate.js'
import type { AppDeps } from '../../deps.js'
import { IdParams, problems } from '../../schemas.js'

/** DELETE /v1/images/:id: the row, the original and every variant. */
export function deleteImage(app: FastifyInstance, deps: AppDeps): void {
  const schema = {
    summary: 'Delete an image and all its files',
    tags: ['images'],
    params: IdParams,
    response: { 204: Type.Null(), ...problems(404) },
  }
  // A delete spends from the general API budget ("reads"): only uploads have a budget of their own.
  app.delete<{ Params: { id: string } }>(
    '/images/:id',
    { schema, config: { scope: 'images:write', rateClass: 'read' } },
    async (request, reply) => {
      await deps.images.delete(principalOf(request).ownerId, request.params.id)
      return reply.code(204).send()
    },
  )
}
