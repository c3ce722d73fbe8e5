import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from '../api/app.js'
import { buildHealthApp, buildMetricsApp } from '../api/health-app.js'
import { createRateLimits } from '../api/rate-limit.js'
import type { MetricsAccess } from '../api/routes/health/health.js'
import { createLinks } from '../api/views.js'
import { createAuditLog } from '../audit/audit-log.js'
import { createAuthenticator } from '../auth/authenticator.js'
import { createSessions } from '../auth/sessions.js'
import { resolveSigningKeys } from '../auth/signing-keys.js'
import type { Cache } from '../cache/cache.js'
import { createCache } from '../cache/create-cache.js'
import type { Config } from '../config/schema.js'
import type { Image } from '../domain/image.js'
import { createUrlSigner } from '../domain/signed-urls.js'
import type { EventNotifier } from '../events/notifier.js'
import { createImageService, imageKey } from '../images/image-service.js'
import { createDecodeBudget, type DecodeBudget } from '../imaging/decode-budget.js'
import { parseAllowList } from '../lib/ssrf.js'
import { startDerivedBudgetSweep } from '../maintenance/derived-budget.js'
import { eraseOwner } from '../maintenance/erase.js'
import { createRateLimiter } from '../ratelimit/create-rate-limiter.js'
import { startReconciler } from '../reconcile/run-reconciler.js'
import { startOutboxRelay } from '../relay/outbox-relay.js'
import { shardStatus } from '../sharding/operations.js'
import { createImageProcessor } from '../worker/process-image.js'
import { lowerRenderPriority } from '../worker/render-priority.js'
import { startWorker } from '../worker/run-worker.js'
import { auditTablesOf, authTablesOf } from './control-db.js'
import { type Deps, openDeps } from './deps.js'
import { createEventRoutes, openEventHints, startEventRetention } from './events.js'
import { createTransforms } from './transforms.js'
import { createUploads, startUploadSweep } from './uploads.js'
import { createWebhooks, startWebhookRelay } from './webhooks.js'

/** libvips starts render threads as images need them: new ones are found and lowered this often. */
const RENDER_PRIORITY_SWEEP_MS = 500
/** `npm run build` writes the dashboard to ui/dist; this file is dist/start/ or src/start/. */
const DASHBOARD_ROOT = fileURLToPath(new URL('../../ui/dist', import.meta.url))

/**
 * What one process runs. `serve`: everything (the embedded default). `api`: HTTP API and outbox
 * relay. `worker`: job processing. `relay`: only the outbox relay. Every role answers /healthz,
 * /readyz and /metrics.
 */
export type Role = 'serve' | 'api' | 'worker' | 'relay'

export interface Pixelflow {
  app: FastifyInstance
  /** The PIXELFLOW_METRICS_PORT listener (only /metrics), when that port is set. */
  metricsApp: FastifyInstance | null
  deps: Deps
  /** Drops an image from the metadata cache (for workers assembled outside this process's own). */
  invalidate(imageId: string): Promise<void>
  /** Closes in order (HTTP, relay, worker, then the stores); every step runs even if one fails. */
  close(): Promise<void>
}

export async function createPixelflow(
  config: Config,
  logger: Logger,
  role: Role = 'serve',
  /** Tracing started by main.ts before this (src/observability/tracing.ts), stopped last on close. */
  stopTracing?: () => Promise<void>,
): Promise<Pixelflow> {
  const runsWorkers = (role === 'serve' || role === 'worker') && config.worker.enabled
  const deps = await openDeps(config, {
    consume: runsWorkers,
    onShardError: (err, shard) => logger.warn({ err, shard }, 'metadata shard error'),
    logger,
  })
  // Before anything takes deps.metadata: every change that writes an event then wakes streams.
  const eventHints = await openEventHints(config, deps, logger)
  const { store, queue, metadata, metrics } = deps
  const cache = await createCache<Image>(config.cache, {
    onError: (err) => logger.warn({ err }, 'metadata cache degraded'),
    onBreaker: (state) => logger.warn({ state }, 'metadata cache: Redis circuit breaker'),
  })
  // An in-process cache is only right when this process sees every change, as `serve` does. A
  // separate API would keep showing `queued` after a worker elsewhere finished: without Redis to
  // carry invalidations, the API reads the shard every time.
  const apiCache = role === 'api' && config.cache.driver === 'memory' ? undefined : cache
  if (!apiCache && role === 'api')
    logger.warn(
      'no shared cache (PIXELFLOW_REDIS_URL unset): metadata reads go to the shards uncached',
    )
  // Every change of an image row drops its cached copy, in every process sharing the cache.
  const invalidate = async (imageId: string) =>
    cache
      .delete(imageKey(imageId))
      .catch((err) => logger.warn({ err, imageId }, 'cache invalidation failed'))

  // One budget for the decoders that hold a whole image, whichever role renders: `serve` runs the
  // workers and on-the-fly transforms in one process, and one process's memory is what it bounds.
  const decodeBudget = createDecodeBudget(config.processing.decodeMemoryMb)
  const worker = runsWorkers ? runWorkerRole(config, deps, logger, invalidate, decodeBudget) : null
  // Where the API serves, its event loop goes before renders (the workers', or transforms').
  const renderPriority =
    role === 'serve' || role === 'api'
      ? lowerRenderPriority(config.processing.renderNice, RENDER_PRIORITY_SWEEP_MS)
      : null
  const relay =
    role !== 'worker' && config.relay.enabled
      ? startOutboxRelay({
          metadata,
          queue,
          logger,
          intervalMs: config.relay.intervalMs,
          onPublished: () => worker?.nudge(),
        })
      : null
  // The relay's process also reconciles: one such process at least runs wherever jobs are published.
  const reconciler =
    relay && config.reconcile.enabled
      ? startReconciler({
          metadata,
          queue,
          settings: config.reconcile,
          intervalMs: config.reconcile.intervalMs,
          logger,
          onChanged: invalidate,
          count: (kind, action) => metrics.reconciled.inc({ kind, action }),
        })
      : null
  // And removes what incomplete uploads left behind (tus, direct, upload tokens).
  const uploadSweep = relay ? await startUploadSweep(config, deps, logger) : null
  // And delivers webhooks: never in the API's or the workers' path, so a slow receiver delays neither.
  const webhookRelay = relay ? startWebhookRelay(config, deps, logger) : null
  // And prunes events past their retention.
  const eventRetention = relay ? startEventRetention(config, deps, logger) : null
  // And keeps derived results on a local disk within their budget (S3: a lifecycle rule does).
  const { budgetBytes, budgetSweepMs } = config.delivery.transforms
  const derivedBudget =
    relay && store.touch && budgetBytes > 0
      ? startDerivedBudgetSweep({ store, budgetBytes, intervalMs: budgetSweepMs, logger })
      : null
  const readiness = {
    store: () => store.check(),
    queue: () => queue.check(),
    metadata: () => metadata.check(),
  }
  const api =
    role === 'serve' || role === 'api'
      ? await buildApiRole(config, deps, logger, {
          cache: apiCache,
          invalidate,
          onQueued: () => relay?.nudge(),
          readiness,
          eventHints,
          decodeBudget,
        })
      : null
  const metricsAccess = metricsAccessOn(config.metrics)
  const app = api?.app ?? (await buildHealthApp({ metrics, logger, readiness, metricsAccess }))
  const metricsApp =
    config.metrics.port === undefined
      ? null
      : await buildMetricsApp({ metrics, logger, access: { token: config.metrics.token } })

  const steps: [string, () => Promise<unknown>][] = [
    ['http', () => app.close()],
    ['metrics http', async () => metricsApp?.close()],
    ['reconciler', async () => reconciler?.stop()],
    ['upload sweep', async () => uploadSweep?.stop()],
    ['webhooks', async () => webhookRelay?.stop()],
    ['event retention', async () => eventRetention?.stop()],
    ['derived budget', async () => derivedBudget?.stop()],
    ['event hints', () => eventHints.close()],
    ['relay', async () => relay?.stop()],
    ['worker', async () => worker?.stop(config.shutdownGraceMs)],
    ['render priority', async () => renderPriority?.stop()],
    ['queue', () => queue.close()],
    ['rate limiter and transforms', async () => api?.close()],
    ['cache', () => cache.close()],
    ['metadata', () => metadata.close()],
    ['control', () => deps.control.destroy()],
    // Last: flushes the spans of everything above.
    ['tracing', async () => stopTracing?.()],
  ]
  return {
    app,
    metricsApp,
    deps,
    invalidate,
    async close() {
      for (const [name, step] of steps) {
        await step().catch((error) =>
          logger.error({ err: error, step: name }, 'shutdown step failed'),
        )
      }
    },
  }
}

/**
 * /metrics on the main port: not when it has a port of its own; behind the bearer token when one
 * is set; openly only when PIXELFLOW_METRICS_PUBLIC=true says so. Otherwise not at all: queue
 * depths and error rates are not for everyone who can reach the API.
 */
function metricsAccessOn(metrics: Config['metrics']): MetricsAccess | null {
  if (metrics.port !== undefined) return null
  if (metrics.token !== undefined) return { token: metrics.token }
  return metrics.public ? {} : null
}

function runWorkerRole(
  config: Config,
  deps: Deps,
  logger: Logger,
  invalidate: (id: string) => Promise<void>,
  decodeBudget: DecodeBudget,
) {
  const { queue, metadata, store, metrics } = deps
  const handler = createImageProcessor({
    metadata,
    store,
    processing: config.processing,
    limits: config.limits,
    decodeBudget,
    logger,
    onChanged: invalidate,
    onStart: crashHook(config.testHooks.crashWorkerForOwner, logger),
  })
  metrics.workerSlots.set(config.worker.concurrency)
  return startWorker({
    queue,
    handler,
    concurrency: config.worker.concurrency,
    pollMs: config.worker.pollMs,
    leaseMs: config.queue.leaseMs,
    maxAttempts: config.queue.maxAttempts,
    logger,
    metrics,
  })
}

interface ApiExtras {
  cache: Cache<Image> | undefined
  invalidate: (id: string) => Promise<void>
  onQueued: () => void
  readiness: Record<string, () => Promise<void>>
  eventHints: EventNotifier
  decodeBudget: DecodeBudget
}

async function buildApiRole(config: Config, deps: Deps, logger: Logger, extras: ApiExtras) {
  const { store, metadata, metrics } = deps
  const limiter = createRateLimiter(config.rateLimit.store, {
    onFailure: (err, operation) => logger.warn({ err, operation }, 'shared rate limiter failed'),
    onBreaker: (state) => logger.warn({ state }, 'rate limiter: Redis circuit breaker'),
  })
  const signingKeys = await resolveSigningKeys(config.delivery, authTablesOf(deps.control))
  const transforms = await createTransforms(config, deps, signingKeys, logger, extras.decodeBudget)
  const images = createImageService({
    beforeObjectsDeleted: (image) => transforms.purge(image),
    metadata,
    store,
    cache: extras.cache,
    invalidate: extras.invalidate,
    limits: config.limits,
    quotas: config.quotas,
    onQueued: extras.onQueued,
    dedupe: config.images.dedupe,
    fetch: {
      allow: parseAllowList(config.outbound.allow.join(',')),
      timeoutMs: config.images.urlTimeoutMs,
    },
    // The window between the commit and the 202 (NODE_ENV=test only, config/load.ts).
    afterCommit: config.testHooks.killAfterUploadCommit
      ? () => process.kill(process.pid, 'SIGKILL')
      : undefined,
  })
  const signer = createUrlSigner(signingKeys, config.delivery.signedUrlTtlSeconds)
  const uploads = await createUploads(config, deps, images, signingKeys, logger)
  const app = await buildApp({
    images,
    authenticate: createAuthenticator(deps.apiKeys, config.auth, uploads.verifyToken),
    sessions: createSessions(authTablesOf(deps.control), {
      ttlMs: config.auth.sessionTtlSeconds * 1000,
      keyIsLive: deps.apiKeys.isLive,
    }),
    uploads,
    webhooks: createWebhooks(config, deps),
    events: createEventRoutes(config, deps, extras.eventHints, logger),
    transforms: transforms.api,
    signer,
    links: createLinks(
      (config.server.publicUrl ?? `http://localhost:${config.server.port}`).replace(/\/+$/, ''),
      signer,
    ),
    rateLimits: createRateLimits(limiter, config.rateLimit),
    store,
    metrics,
    logger,
    limits: config.limits,
    http: config.http,
    readiness: extras.readiness,
    metricsAccess: metricsAccessOn(config.metrics),
    dashboard: { root: DASHBOARD_ROOT },
    admin: {
      apiKeys: deps.apiKeys,
      queue: deps.queue,
      shardStatus: () => shardStatus(metadata),
      audit: createAuditLog(auditTablesOf(deps.control)),
    },
    eraseOwner: (ownerId) =>
      eraseOwner(
        {
          metadata,
          store,
          control: authTablesOf(deps.control),
          apiKeys: deps.apiKeys,
          cache: extras.cache,
          purge: (image) => transforms.purge(image),
        },
        ownerId,
      ),
  })
  return {
    app,
    close: () => Promise.allSettled([limiter.close(), transforms.close()]),
  }
}

/**
 * The fault tests' crash loop: a worker that dies, as an out-of-memory kill would, on every
 * delivery of one owner's images. Only set under NODE_ENV=test (config/load.ts).
 */
function crashHook(owner: string | undefined, logger: Logger) {
  if (!owner) return undefined
  return (image: Image) => {
    if (image.ownerId !== owner) return
    logger.warn({ imageId: image.id }, 'test hook: killing this worker (SIGKILL)')
    process.kill(process.pid, 'SIGKILL')
  }
}
