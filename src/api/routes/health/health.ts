import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../../deps.js'

/** /healthz: the process is alive. /readyz: every dependency answered its check. /metrics: Prometheus. */
export function health(app: FastifyInstance, deps: Pick<AppDeps, 'readiness' | 'metrics'>): void {
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const names = Object.keys(deps.readiness)
    const results = await Promise.allSettled(names.map((name) => deps.readiness[name]!()))
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
    const body = await deps.metrics.registry.metrics()
    return reply.header('content-type', deps.metrics.registry.contentType).send(body)
  })
}
