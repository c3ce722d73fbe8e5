import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { AppDeps } from './deps.js'
import { installErrorHandling } from './error-handler.js'
import { health } from './routes/health/health.js'

/**
 * The HTTP face of a process without the API (`pixelflow worker`, `pixelflow relay`): only
 * /healthz, /readyz and /metrics, so orchestrators and Prometheus treat every role alike.
 */
export async function buildHealthApp(
  deps: Pick<AppDeps, 'readiness' | 'metrics' | 'logger'>,
): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger })
  installErrorHandling(app)
  await app.register(health, { readiness: deps.readiness, metrics: deps.metrics })
  return app
}
