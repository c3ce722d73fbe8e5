import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Metrics } from '../../../observability/metrics.js'

export interface HealthOptions {
  /** Each dependency's check; a rejected check makes the process not ready. */
  readiness: Record<string, () => Promise<void>>
  metrics: Pick<Metrics, 'registry'>
}

/** /healthz: the process is alive. /readyz: every dependency answered its check. /metrics: Prometheus. */
export const health: FastifyPluginAsyncTypebox<HealthOptions> = async (
  app,
  { readiness, metrics },
) => {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const names = Object.keys(readiness)
    const results = await Promise.allSettled(names.map((name) => readiness[name]!()))
    const checks = Object.fromEntries(
      names.map((name, i) => [name, results[i]!.status === 'fulfilled' ? 'ok' : 'failing']),
    )
    const ready = results.every((r) => r.status === 'fulfilled')
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ok' : 'unavailable', checks })
  })

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics()
    return reply.header('content-type', metrics.registry.contentType).send(body)
  })
}
