import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Metrics } from '../../../observability/metrics.js'
import {
  createMetricsHistory,
  type MetricsHistoryOptions,
} from '../../../observability/metrics-history.js'
import { problems } from '../../schemas.js'
import { iso } from './audited.js'
import { ADMIN_ROUTE, ADMIN_TAGS, MetricsView } from './schemas.js'

export interface AdminMetricsOptions {
  metrics: Metrics
  history?: MetricsHistoryOptions
}

/**
 * GET /v1/admin/metrics: this process's throughput and latency over the last 30 minutes, sampled
 * from its own counters every 10 s. The sampling runs while the app is open and stops with it.
 */
export const adminMetricsRoutes: FastifyPluginAsyncTypebox<AdminMetricsOptions> = async (
  app,
  { metrics, history: options },
) => {
  const history = createMetricsHistory(metrics, options)
  history.start()
  app.addHook('onClose', async () => history.stop())
  app.get(
    '/admin/metrics',
    {
      schema: {
        summary: "This process's requests, uploads, finished jobs and latency, per interval",
        tags: ADMIN_TAGS,
        response: { 200: MetricsView, ...problems() },
      },
      config: ADMIN_ROUTE,
    },
    async (_request, reply) => {
      const points = history.points().map((point) => ({ ...point, at: iso(point.at) }))
      return reply.send({ intervalMs: history.intervalMs, points })
    },
  )
}
