import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AppError } from '../../../errors/index.js'
import type { Metrics } from '../../../observability/metrics.js'

export interface HealthOptions {
  /** Each dependency's check; a rejected check makes the process not ready. */
  readiness: Record<string, () => Promise<void>>
  metrics: Pick<Metrics, 'registry'>
  /** /metrics on this listener: openly, behind a bearer token, or (null) not at all. */
  metricsAccess: MetricsAccess | null
}

export interface MetricsAccess {
  /** When set, a scrape must send `Authorization: Bearer <token>`. */
  token?: string | undefined
}

/**
 * Probes are never rate limited (an orchestrator polls them), so a burst of /readyz must not
 * become a burst on every dependency: one round of checks serves every caller for this long.
 */
const READINESS_REUSE_MS = 1_000

/** /healthz: the process is alive. /readyz: every dependency answered its check. /metrics when allowed here. */
export const health: FastifyPluginAsyncTypebox<HealthOptions> = async (
  app,
  { readiness, metrics, metricsAccess },
) => {
  app.get('/healthz', async () => ({ status: 'ok' }))

  const checkAll = sharedFor(READINESS_REUSE_MS, async () => {
    const names = Object.keys(readiness)
    const results = await Promise.allSettled(names.map((name) => readiness[name]!()))
    const checks = Object.fromEntries(
      names.map((name, i) => [name, results[i]!.status === 'fulfilled' ? 'ok' : 'failing']),
    )
    return { ready: results.every((r) => r.status === 'fulfilled'), checks }
  })

  app.get('/readyz', async (_request, reply) => {
    const { ready, checks } = await checkAll()
    return reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: ready ? 'ok' : 'unavailable', checks })
  })

  if (metricsAccess) await app.register(metricsEndpoint, { metrics, access: metricsAccess })
}

export interface MetricsEndpointOptions {
  metrics: Pick<Metrics, 'registry'>
  access: MetricsAccess
}

/** GET /metrics: Prometheus' text format, behind the bearer token when one is configured. */
export const metricsEndpoint: FastifyPluginAsyncTypebox<MetricsEndpointOptions> = async (
  app,
  { metrics, access },
) => {
  const expected = access.token === undefined ? null : digest(access.token)
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (expected && !bearerMatches(request.headers.authorization, expected))
      throw new AppError('UNAUTHENTICATED', 'Scraping /metrics needs the metrics bearer token')
    const body = await metrics.registry.metrics()
    return reply.header('content-type', metrics.registry.contentType).send(body)
  })
}

const digest = (text: string) => createHash('sha256').update(text).digest()

/** Compared as digests, in constant time: the token's length and prefix leak nothing either. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return match !== null && timingSafeEqual(digest(match[1]!), expected)
}

function sharedFor<T>(ms: number, load: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null
  return () => {
    const now = Date.now()
    if (!last || now - last.at >= ms) last = { at: now, value: load() }
    return last.value
  }
}
