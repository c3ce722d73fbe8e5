import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuditLog } from '../../../audit/audit-log.js'
import { problems } from '../../schemas.js'
import { iso } from './audited.js'
import { ADMIN_ROUTE, ADMIN_TAGS, AuditList, AuditQuery } from './schemas.js'

export interface AdminAuditOptions {
  audit: AuditLog
}

/** GET /v1/admin/audit: the admin actions that changed something, newest first. */
export const adminAuditRoutes: FastifyPluginAsyncTypebox<AdminAuditOptions> = async (
  app,
  { audit },
) => {
  app.get(
    '/admin/audit',
    {
      schema: {
        summary: 'The audit log of admin actions, newest first',
        tags: ADMIN_TAGS,
        querystring: AuditQuery,
        response: { 200: AuditList, ...problems(400) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const { limit, cursor } = request.query
      const page = await audit.list(limit, cursor)
      const items = page.items.map((item) => ({ ...item, at: iso(item.at) }))
      return reply.send({ items, nextCursor: page.nextCursor })
    },
  )
}
