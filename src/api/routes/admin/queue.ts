import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuditLog } from '../../../audit/audit-log.js'
import type { DeadJob, QueueDriver } from '../../../queue/queue.js'
import { redriveDead } from '../../../queue/redrive.js'
import { imageIdOfJob } from '../../../reconcile/job-image.js'
import { problems } from '../../schemas.js'
import { audited, iso } from './audited.js'
import {
  ADMIN_ROUTE,
  ADMIN_TAGS,
  DeadJobList,
  DeadLettersQuery,
  MAX_DEAD_JOBS,
  QueueStatsView,
  RedriveBody,
  RedriveResultView,
} from './schemas.js'

export interface AdminQueueOptions {
  queue: Pick<QueueDriver, 'driver' | 'stats' | 'listDead' | 'redrive'>
  audit: AuditLog
}

const deadJobView = (job: DeadJob) => ({
  id: job.id,
  imageId: imageIdOfJob(job.payload),
  lastError: job.errors.at(-1) ?? null,
  errors: job.errors,
  attempts: job.attempts,
  queuedAt: iso(job.createdAt),
})

/** The queue's depth and its dead letters, as `pixelflow dead list|redrive` see them. */
export const adminQueueRoutes: FastifyPluginAsyncTypebox<AdminQueueOptions> = async (
  app,
  { queue, audit },
) => {
  app.get(
    '/admin/queue',
    {
      schema: {
        summary: "The queue's depth by state",
        tags: ADMIN_TAGS,
        response: { 200: QueueStatsView, ...problems() },
      },
      config: ADMIN_ROUTE,
    },
    async (_request, reply) => {
      const stats = await queue.stats()
      return reply.send({ driver: queue.driver, ...stats })
    },
  )

  app.get(
    '/admin/dead-letters',
    {
      schema: {
        summary: 'Dead-lettered jobs with their error history',
        tags: ADMIN_TAGS,
        querystring: DeadLettersQuery,
        response: { 200: DeadJobList, ...problems(400) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const items = (await queue.listDead(request.query.limit)).map(deadJobView)
      return reply.send({ items })
    },
  )

  app.post(
    '/admin/dead-letters/redrive',
    {
      schema: {
        summary: `Put dead jobs back in the queue: the ids given, or the first ${MAX_DEAD_JOBS} listed`,
        tags: ADMIN_TAGS,
        body: RedriveBody,
        response: { 200: RedriveResultView, ...problems(400) },
      },
      config: ADMIN_ROUTE,
    },
    async (request) => {
      const { ids } = request.body
      const { redriven, missing, error } = await redriveDead(queue, ids, MAX_DEAD_JOBS)
      // Before any error: the jobs moved before a broker failed are back in the queue all the same.
      if (redriven.length > 0)
        await audited(audit, request, 'dead-letters.redrive', 'queue', { ids: redriven })
      if (error) throw error
      return { redriven: redriven.length, missing }
    },
  )
}
