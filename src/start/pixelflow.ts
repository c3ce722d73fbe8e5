import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import sharp from 'sharp'
import { buildApp } from '../api/app.js'
import { buildHealthApp } from '../api/health-app.js'
import { createRateLimits } from '../api/rate-limit.js'
import { createLinks } from '../api/views.js'
import { createApiKeys } from '../auth/api-keys.js'
import { createAuthenticator } from '../auth/authenticator.js'
import { resolveSigningKeys } from '../auth/signing-keys.js'
import type { Cache } from '../cache/cache.js'
import { createCache } from '../cache/create-cache.js'
import type { Config } from '../config/schema.js'
import { createImageService, imageKey } from '../images/image-service.js'
import type { Image } from '../images/model.js'
import { createUrlSigner } from '../images/signed-urls.js'
import type { ControlDb } from '../metadata/control-db.js'
import { migrate, openDatabase } from '../metadata/database.js'
import { CONTROL_MIGRATIONS } from '../metadata/migrations/index.js'
import { openShardedMetadata } from '../metadata/sharded-metadata.js'
import { createMetrics } from '../observability/metrics.js'
import { createQueue } from '../queue/create-queue.js'
import { startOutboxRelay } from '../queue/outbox-relay.js'
import { createRateLimiter } from '../ratelimit/create-rate-limiter.js'
import { createObjectStore } from '../storage/create-object-store.js'
import { createImageProcessor } from '../worker/process-image.js'
import { startWorker } from '../worker/run-worker.js'

const RELAY_INTERVAL_MS = 500

/**
 * What one process runs. `serve`: everything (the embedded default). `api`: HTTP API and outbox
 * relay. `worker`: job processing. `relay`: only the outbox relay. Every role answers /healthz,
 * /readyz and /metrics.
 */
export type Role = 'serve' | 'api' | 'worker' | 'relay'

export interface Pixelflow {
  app: FastifyInstance
  deps: Awaited<ReturnType<typeof openDeps>>
  /** Drops an image from the metadata cache (for workers assembled outside this process's own). */
  invalidate(imageId: string): Promise<void>
  /** Closes in order (HTTP, relay, worker, then the stores); every step runs even if one fails. */
  close(): Promise<void>
}

/** Opens every port from the config: the composition root. */
export interface DepsOptions {
  /** This process runs workers (a broker queue then holds prefetched jobs for it). */
  consume?: boolean
  /** Refuse to start while a shard is down (the `migrate` and `shards` commands). */
  requireAllShards?: boolean
  onShardError?: (error: Error, shardId: number) => void
}

export async function openDeps(config: Config, options: DepsOptions = {}) {
  const consume = options.consume ?? false
  const store = await createObjectStore(config.storage)
  const queue = await createQueue(config.queue, { consume, prefetch: config.worker.concurrency })
  const control = openDatabase<ControlDb>(config.metadata.control)
  await migrate(control as Kysely<unknown>, CONTROL_MIGRATIONS)
  const metadata = await openShardedMetadata(config.metadata, {
    control,
    requireAll: options.requireAllShards,
    onShardError: options.onShardError,
  })
  return {
    store,
    queue,
    metadata,
    control,
    apiKeys: createApiKeys(control),
    metrics: createMetrics(queue),
  }
}

export async function createPixelflow(
  config: Config,
  logger: Logger,
  role: Role = 'serve',
): Promise<Pixelflow> {
  const runsWorkers = (role === 'serve' || role === 'worker') && config.worker.enabled
  const deps = await openDeps(config, {
    consume: runsWorkers,
    onShardError: (err, shard) => logger.warn({ err, shard }, 'metadata shard error'),
  })
  const { store, queue, metadata, metrics } = deps
  const cache = await createCache<Image>(config.cache, {
    onError: (err) => logger.warn({ err }, 'metadata cache degraded'),
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

  const worker = runsWorkers ? runWorkerRole(config, deps, logger, invalidate) : null
  const relay =
    role !== 'worker' && config.relay.enabled
      ? startOutboxRelay({
          metadata,
          queue,
          logger,
          intervalMs: RELAY_INTERVAL_MS,
          onPublished: () => worker?.nudge(),
        })
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
        })
      : null
  const app = api?.app ?? (await buildHealthApp({ metrics, logger, readiness }))

  const steps: [string, () => Promise<unknown>][] = [
    ['http', () => app.close()],
    ['relay', async () => relay?.stop()],
    ['worker', async () => worker?.stop(config.shutdownGraceMs)],
    ['queue', () => queue.close()],
    ['rate limiter', async () => api?.close()],
    ['cache', () => cache.close()],
    ['metadata', () => metadata.close()],
    ['control', () => deps.control.destroy()],
  ]
  return {
    app,
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

type Deps = Awaited<ReturnType<typeof openDeps>>

function runWorkerRole(
  config: Config,
  deps: Deps,
  logger: Logger,
  invalidate: (id: string) => Promise<void>,
) {
  // libvips' operation cache only helps when the same image is processed twice; here it just holds memory.
  sharp.cache(false)
  const { queue, metadata, store, metrics } = deps
  const handler = createImageProcessor({
    metadata,
    store,
    processing: config.processing,
    limits: config.limits,
    logger,
    onChanged: invalidate,
  })
  metrics.workerSlots.set(config.worker.concurrency)
  return startWorker({
    queue,
    handler,
    concurrency: config.worker.concurrency,
    pollMs: config.worker.pollMs,
    leaseMs: config.queue.leaseMs,
    logger,
    metrics,
  })
}

interface ApiExtras {
  cache: Cache<Image> | undefined
  invalidate: (id: string) => Promise<void>
  onQueued: () => void
  readiness: Record<string, () => Promise<void>>
}

async function buildApiRole(config: Config, deps: Deps, logger: Logger, extras: ApiExtras) {
  const { store, metadata, metrics } = deps
  const limiter = createRateLimiter(config.rateLimit.store, {
    onFailure: (err, operation) => logger.warn({ err, operation }, 'shared rate limiter failed'),
  })
  const images = createImageService({
    metadata,
    store,
    cache: extras.cache,
    invalidate: extras.invalidate,
    limits: config.limits,
    quotas: config.quotas,
    onQueued: extras.onQueued,
  })
  const signer = createUrlSigner(
    await resolveSigningKeys(config.delivery, deps.control),
    config.delivery.signedUrlTtlSeconds,
  )
  const app = await buildApp({
    images,
    authenticate: createAuthenticator(deps.apiKeys, config.auth),
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
  })
  return { app, close: () => limiter.close() }
}
