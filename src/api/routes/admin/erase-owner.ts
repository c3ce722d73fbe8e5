import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { AuditLog } from '../../../audit/audit-log.js'
import type { EraseReport } from '../../../maintenance/erase.js'
import { problems } from '../../schemas.js'
import { audited } from './audited.js'

export interface EraseOwnerOptions {
  erase: (ownerId: string) => Promise<EraseReport>
  /** Where a finished erasure is recorded, when the admin routes are wired. */
  audit?: AuditLog
}

const EraseResult = Type.Object({
  ownerId: Type.String(),
  resumed: Type.Boolean({ description: 'An interrupted erasure of this owner was continued' }),
  images: Type.Integer({ description: 'Images erased (rows, objects, cache entries)' }),
  apiKeys: Type.Integer({ description: 'API keys deleted' }),
})

const schema = {
  summary: "Erase an owner's data: every image, object, cache entry and API key",
  tags: ['admin'],
  params: Type.Object({ ownerId: Type.String({ minLength: 1, maxLength: 255 }) }),
  response: { 200: EraseResult, ...problems(400, 403) },
}

/**
 * DELETE /v1/admin/owners/:ownerId (admin scope): the same erasure as `pixelflow owners erase`.
 * It runs while the request waits; an erasure cut short (a timeout, a crash) is recorded and the
 * same request, sent again, continues it.
 */
export const eraseOwnerRoute: FastifyPluginAsyncTypebox<EraseOwnerOptions> = async (
  app,
  { erase, audit },
) => {
  app.delete(
    '/admin/owners/:ownerId',
    { schema, config: { scope: 'admin', rateClass: 'read' } },
    async (request, reply) => {
      const report = await erase(request.params.ownerId)
      if (audit) {
        const { resumed, images, apiKeys } = report
        await audited(audit, request, 'owner.erase', report.ownerId, { resumed, images, apiKeys })
      }
      return reply.header('cache-control', 'no-store').send(report)
    },
  )
}
