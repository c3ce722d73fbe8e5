import type { FastifyInstance } from 'fastify'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import sharp from 'sharp'
import { buildApp } from '../api/app.js'
import { createRateLimits } from '../api/rate-limit.js'
import { createCache } from '../cache/create-cache.js'
import { imageKey } from '../images/image-service.js'
import type { Image } from '../images/model.js'
import { createRateLimiter } from '../ratelimit/create-rate-limiter.js'
import { createLinks } from '../api/views.js'
import { createAuthenticator } from '../auth/authenticator.js'
import { resolveSigningKeys } from '../auth/signing-keys.js'
import { createUrlSigner } from '../images/signed-urls.js'
import { type ControlDb, createApiKeys } from '../auth/api-keys.js'
import type { Config } from '../config/schema.js'
import { createImageService } from '../images/image-service.js'
import { CONTROL_MIGRATIONS } from '../metadata/migrations/index.js'
import { openShardedMetadata } from '../metadata/sharded-metadata.js'
import { migrate, openSqlite } from '../metadata/sqlite.js'
import { createMetrics } from '../observability/metrics.js'
import { createQueue } from '../queue/create-queue.js'
import { startOutboxRelay } from '../queue/outbox-relay.js'
import { createObjectStore } from '../storage/create-object-store.js'
import { createImageProcessor } from '../worker/process-image.js'
import { startWorker } from '../worker/run-worker.js'

const RELAY_INTERVAL_MS = 500

export interface Pixelflow {
  app: FastifyInstance
  deps: Awaited<ReturnType<typeof openDeps>>
  /** Drops an image from the metadata cache (for workers assembled outside this process's own). */
  invalidate(imageId: string): Promise<void>
  /** Closes in order (HTTP, relay, worker, then the stores); every step runs even if one fails. */
  close(): Promise<void>
}

/** Opens every port from the config: the composition root. */
export async function openDeps(config: Config) {
  const store = createObjectStore(config.storage)
  const queue = createQueue(config.queue)
  const metadata = await openShardedMetadata(config.metadata)
  const control = openSqlite<ControlDb>(config.metadata.controlPath)
  await migrate(control as Kysely<unknown>, CONTROL_MIGRATIONS)
  return { store, queue, metadata, control, apiKeys: createApiKeys(control), metrics: createMetrics(queue) }
}

/**
 * The whole pipeline in one process (`pixelflow serve`): API, outbox relay and workers. Tests
 * build the same thing with a config of their own.
 */
export async function createPixelflow(config: Config, logger: Logger): Promise<Pixelflow> {
  const deps = await openDeps(config)
  const { store, queue, metadata, metrics } = deps
  const cache = await createCache<Image>(config.cache, { onError: (err) => logger.warn({ err }, 'metadata cache degraded') })
  const limiter = createRateLimiter(config.rateLimit.store, { onFailure: (err, operation) => logger.warn({ err, operation }, 'shared rate limiter failed') })
  // Every change of an image row drops its cached copy, in every process sharing the cache.
  const invalidate = async (imageId: string) => cache.delete(imageKey(imageId)).catch((err) => logger.warn({ err, imageId }, 'cache invalidation failed'))
  // libvips' operation cache only helps when the same image is processed twice; here it just holds memory.
  sharp.cache(false)
  const worker = config.worker.enabled
    ? startWorker({
        queue,
        handler: createImageProcessor({ metadata, store, processing: config.processing, limits: config.limits, logger, onChanged: invalidate }),
        concurrency: config.worker.concurrency,
        pollMs: config.worker.pollMs,
        leaseMs: config.queue.leaseMs,
        logger,
        metrics,
      })
    : null
  const relay = startOutboxRelay({ metadata, queue, logger, intervalMs: RELAY_INTERVAL_MS, onPublished: () => worker?.nudge() })
  const images = createImageService({ metadata, store, cache, invalidate, limits: config.limits, quotas: config.quotas, onQueued: () => relay.nudge() })
  const signer = createUrlSigner(await resolveSigningKeys(config.delivery, deps.control), config.delivery.signedUrlTtlSeconds)
  const app = await buildApp({
    images,
    authenticate: createAuthenticator(deps.apiKeys, config.auth),
    signer,
    links: createLinks((config.server.publicUrl ?? `http://localhost:${config.server.port}`).replace(/\/+$/, ''), signer),
    store,
    metrics,
    logger,
    limits: config.limits,
    http: config.http,
    rateLimits: createRateLimits(limiter, config.rateLimit),
    readiness: { store: () => store.check(), queue: () => queue.check(), metadata: () => metadata.check() },
  })

  const steps: [string, () => Promise<unknown>][] = [
    ['http', () => app.close()],
    ['relay', () => relay.stop()],
    ['worker', async () => worker?.stop(config.shutdownGraceMs)],
    ['queue', () => queue.close()],
    ['rate limiter', () => limiter.close()],
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
        await step().catch((error) => logger.error({ err: error, step: name }, 'shutdown step failed'))
      }
    },
  }
}
