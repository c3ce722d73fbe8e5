import type { FastifyPluginAsync } from 'fastify'
import type { AuditLog } from '../../../audit/audit-log.js'
import type { ApiKeys } from '../../../auth/api-keys.js'
import type { Metrics } from '../../../observability/metrics.js'
import type { MetricsHistoryOptions } from '../../../observability/metrics-history.js'
import type { QueueDriver } from '../../../queue/queue.js'
import type { ShardStatus } from '../../../sharding/operations.js'
import { adminAuditRoutes } from './audit.js'
import { adminKeyRoutes } from './keys.js'
import { adminMetricsRoutes } from './metrics.js'
import { adminQueueRoutes } from './queue.js'
import { adminShardRoutes } from './shards.js'

/** What the operator routes under /v1/admin use: the ports the `pixelflow` operator commands use. */
export interface AdminDeps {
  apiKeys: Pick<ApiKeys, 'create' | 'list' | 'revoke' | 'rotate'>
  queue: Pick<QueueDriver, 'driver' | 'stats' | 'listDead' | 'redrive'>
  shardStatus: () => Promise<ShardStatus>
  audit: AuditLog
  /** The sampling of GET /v1/admin/metrics (tests shorten the interval). */
  metricsHistory?: MetricsHistoryOptions
}

/** Queue, dead letters, shards, keys, audit log and metrics; every route needs the admin scope. */
export const adminRoutes: FastifyPluginAsync<AdminDeps & { metrics: Metrics }> = async (
  app,
  deps,
) => {
  const { audit } = deps
  // What an operator reads (key secrets, queue depth) is of the moment and never for a cache.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })
  // Every admin POST body is optional ({} by default): a script may send none at all.
  app.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {}
  })
  await app.register(adminQueueRoutes, { queue: deps.queue, audit })
  await app.register(adminShardRoutes, { shardStatus: deps.shardStatus })
  await app.register(adminKeyRoutes, { apiKeys: deps.apiKeys, audit })
  await app.register(adminAuditRoutes, { audit })
  await app.register(adminMetricsRoutes, { metrics: deps.metrics, history: deps.metricsHistory })
}
