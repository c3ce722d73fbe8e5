import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { AppDeps } from './deps.js'
import { installErrorHandling } from './error-handler.js'
import { redactingLogger } from './log-redaction.js'
import { health, type MetricsAccess, metricsEndpoint } from './routes/health/health.js'

/**
 * The HTTP face of a process without the API (`pixelflow worker`, `pixelflow relay`): only
 * /healthz, /readyz and (where the config allows it) /metrics, so orchestrators and Prometheus
 * treat every role alike.
 */
export async function buildHealthApp(
  deps: Pick<AppDeps, 'readiness' | 'metrics' | 'logger' | 'metricsAccess'>,
): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: redactingLogger(deps.logger) as FastifyBaseLogger })
  installErrorHandling(app)
  await app.register(health, {
    readiness: deps.readiness,
    metrics: deps.metrics,
    metricsAccess: deps.metricsAccess,
  })
  return app
}

/**
 * The listener of PIXELFLOW_METRICS_PORT: /metrics and nothing else, so the API port need not
 * expose it and the metrics port can be reachable only from the monitoring network.
 */
export async function buildMetricsApp(
  deps: Pick<AppDeps, 'metrics' | 'logger'> & { access: MetricsAccess },
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: redactingLogger(deps.logger) as FastifyBaseLogger,
    // Scrapes are not worth a log line each. (Through a LogController: Fastify 5.12 deprecates the
    // top-level option and warns on every start.)
    logController: new LogController({ disableRequestLogging: true }),
  })
  installErrorHandling(app)
  await app.register(metricsEndpoint, { metrics: deps.metrics, access: deps.access })
  return app
}
