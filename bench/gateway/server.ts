/**
 * One server for the gateway bench (forked by gateway/run.ts), in its own process so its CPU and peak
 * RSS are its own. All sides open the same data folder, seeded by the parent with ready images
 * and one API key (BENCH_DATA_DIR). BENCH_SERVER is:
 *   cache-hit   createPixelflow with the default in-process LRU (10 000 entries > the ids read);
 *               every cache side has a TTL of 10 min, so no entry expires during the part;
 *   cache-miss  createPixelflow with an LRU of BENCH_SMALL_CACHE entries, fewer than the ids read
 *               round robin, so every read misses (the counters below prove it);
 *   no-cache    the same app assembled here as start/pixelflow.ts does, but createImageService
 *               gets no cache at all, so every read goes to the shard (src's own cache-less path);
 *   redis       createPixelflow with PIXELFLOW_REDIS_URL (rate limits in memory): an L1 of
 *               BENCH_SMALL_CACHE entries misses every time and Redis (L2) answers;
 *   hooks       the app of no-cache plus four trivial GET routes (see startHooks) for the cost of
 *               authentication and rate limiting.
 * Rate limits are off (0) on the image routes (benchConfig), so part 1 measures the cache only.
 *
 * Protocol: sends { url } once listening; answers "mark" with its counters (CPU, shard loads,
 * Redis commands sent, limiter failures) and "stop" with the same plus peak RSS, then exits.
 */

import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { buildApp } from '../../src/api/app.js'
import { authenticate } from '../../src/api/authenticate.js'
import { createRateLimits } from '../../src/api/rate-limit.js'
import { createLinks } from '../../src/api/views.js'
import { createAuthenticator } from '../../src/auth/authenticator.js'
import { resolveSigningKeys } from '../../src/auth/signing-keys.js'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createUrlSigner } from '../../src/domain/signed-urls.js'
import { createImageService } from '../../src/images/image-service.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { createRateLimiter } from '../../src/ratelimit/create-rate-limiter.js'
import { authTablesOf } from '../../src/start/control-db.js'
import { openDeps } from '../../src/start/deps.js'
import { createPixelflow } from '../../src/start/pixelflow.js'
import { failToParent } from '../harness/child.js'
import { benchConfig } from '../harness/config.js'
import { cpuSecondsOf, peakRssMb } from '../harness/measure.js'

export type GatewayServer = 'cache-hit' | 'cache-miss' | 'no-cache' | 'redis' | 'hooks'
/** The trivial routes of the `hooks` server, each at /bench/<name>. */
export type HookRoute = 'bare' | 'auth' | 'auth-memory' | 'auth-redis'

export interface GatewayReady {
  url: string
}

export interface GatewayCounters {
  cpuSeconds: number
  /** Calls of a shard's getImage: the cache's loader (1 per request = every read missed). */
  loads: number
  /** Commands this process sent to Redis (ioredis sendCommand), whatever the client. */
  redisCommands: number
  /** Failures of the shared (Redis) limiter: each one was answered by the in-process fallback. */
  limiterFailures: number
}

export interface GatewayStopped extends GatewayCounters {
  peakRssMb: number
}

const HOST = '127.0.0.1'
const counters = { loads: 0, redisCommands: 0, limiterFailures: 0 }

// Counts what this process sends to Redis; src imports ioredis lazily, and gets this same class.
const sendCommand = Redis.prototype.sendCommand
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
  counters.redisCommands++
  return sendCommand.apply(this, args)
}

async function countLoads(metadata: ShardedMetadata): Promise<void> {
  for (const handle of metadata.shards()) {
    const shard = await metadata.shard(handle.id)
    const getImage = shard.getImage
    ;(shard as { getImage: typeof getImage }).getImage = (bucket: number, id: string) => {
      counters.loads++
      return getImage(bucket, id)
    }
  }
}

function env(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

interface Server {
  url: string
  close(): Promise<void>
}

/** Through the real composition root: only the environment differs between these sides. */
async function startPixelflow(
  server: 'cache-hit' | 'cache-miss' | 'redis',
  dataDir: string,
): Promise<Server> {
  const small = env('BENCH_SMALL_CACHE')
  // A 10 min TTL (default 60 s) so that no entry expires while the part runs: a hit stays a hit.
  const ttl = { PIXELFLOW_CACHE_TTL_MS: '600000' }
  const extra: Record<string, Record<string, string>> = {
    'cache-hit': ttl,
    'cache-miss': { ...ttl, PIXELFLOW_CACHE_MAX_ENTRIES: small },
    redis: {
      ...ttl,
      PIXELFLOW_REDIS_URL: env('BENCH_REDIS_URL'),
      PIXELFLOW_REDIS_PREFIX: env('BENCH_REDIS_PREFIX'),
      PIXELFLOW_RATE_LIMIT_DRIVER: 'memory',
      PIXELFLOW_CACHE_MAX_ENTRIES: small,
    },
  }
  const config = benchConfig(dataDir, extra[server])
  if (server === 'redis' && config.cache.driver !== 'redis')
    throw new Error('the redis side did not get the Redis cache')
  const pixelflow = await createPixelflow(config, pino({ level: 'silent' }))
  await countLoads(pixelflow.deps.metadata)
  const url = await pixelflow.app.listen({ host: HOST, port: 0 })
  return { url, close: () => pixelflow.close() }
}

/** What start/pixelflow.ts's buildApiRole assembles, minus the cache (and the relay, idle here). */
async function assemble(config: Config) {
  const logger = pino({ level: 'silent' })
  const deps = await openDeps(config)
  await countLoads(deps.metadata)
  const limiter = createRateLimiter(config.rateLimit.store)
  const images = createImageService({
    metadata: deps.metadata,
    store: deps.store,
    limits: config.limits,
    quotas: config.quotas,
  })
  const signer = createUrlSigner(
    await resolveSigningKeys(config.delivery, authTablesOf(deps.control)),
    config.delivery.signedUrlTtlSeconds,
  )
  const authenticator = createAuthenticator(deps.apiKeys, config.auth)
  const app = await buildApp({
    images,
    authenticate: authenticator,
    signer,
    links: createLinks(`http://localhost:${config.server.port}`, signer),
    rateLimits: createRateLimits(limiter, config.rateLimit),
    store: deps.store,
    metrics: deps.metrics,
    logger,
    limits: config.limits,
    http: config.http,
    readiness: {},
    metricsAccess: null,
  })
  const close = async () => {
    await app.close()
    await limiter.close()
    await deps.queue.close()
    await deps.metadata.close()
    await deps.control.destroy()
  }
  return { app, deps, authenticator, close }
}

async function startNoCache(dataDir: string): Promise<Server> {
  const { app, close } = await assemble(benchConfig(dataDir))
  return { url: await app.listen({ host: HOST, port: 0 }), close }
}

/**
 * The app of no-cache (so every global hook of buildApp runs on these routes too: request id,
 * closing guard, CORS, security headers) plus four trivial routes answering { ok: true }:
 *   bare         no route-level hooks;
 *   auth         the /v1 authenticate hook, and perOwner with the read limit off (0);
 *   auth-memory  authenticate + perOwner on the in-process limiter;
 *   auth-redis   authenticate + perOwner on the Redis limiter (resilient wrapper, policy open).
 * The limits (10⁹ per 60 s) are far above any rate reached here, so nothing is refused.
 */
async function startHooks(dataDir: string): Promise<Server> {
  const limits = {
    PIXELFLOW_RATE_LIMIT_READS: '1000000000',
    PIXELFLOW_RATE_LIMIT_WINDOW_MS: '60000',
  }
  const config = benchConfig(dataDir, limits)
  const redisConfig = loadConfig({
    PIXELFLOW_REDIS_URL: env('BENCH_REDIS_URL'),
    PIXELFLOW_REDIS_PREFIX: env('BENCH_REDIS_PREFIX'),
    ...limits,
  })
  const { app, authenticator, close } = await assemble(config)
  const memory = createRateLimiter({ driver: 'memory' })
  const redis = createRateLimiter(redisConfig.rateLimit.store, {
    onFailure: () => counters.limiterFailures++,
  })
  if (redis.driver !== 'redis')
    throw new Error('the auth-redis route did not get the Redis limiter')
  const rateLimits: Record<Exclude<HookRoute, 'bare'>, ReturnType<typeof createRateLimits>> = {
    auth: createRateLimits(memory, { ...config.rateLimit, reads: 0 }),
    'auth-memory': createRateLimits(memory, config.rateLimit),
    'auth-redis': createRateLimits(redis, redisConfig.rateLimit),
  }
  const ok = async () => ({ ok: true })
  await app.register(async (scope: FastifyInstance) => {
    scope.get('/bench/bare', ok)
  })
  for (const [name, limitsOfRoute] of Object.entries(rateLimits)) {
    // The same two onRequest hooks, in the same order, as the /v1 scope in src/api/app.ts.
    await app.register(async (scope: FastifyInstance) => {
      scope.addHook('onRequest', authenticate(authenticator, limitsOfRoute.perIp))
      scope.addHook('onRequest', limitsOfRoute.perOwner)
      scope.get(`/bench/${name}`, { config: { scope: 'images:read', rateClass: 'read' } }, ok)
    })
  }
  const url = await app.listen({ host: HOST, port: 0 })
  return {
    url,
    close: async () => {
      await close()
      await Promise.all([memory.close(), redis.close()])
    },
  }
}

function readCounters(since: NodeJS.CpuUsage): GatewayCounters {
  return { cpuSeconds: cpuSecondsOf(process.cpuUsage(since)), ...counters }
}

async function main(): Promise<void> {
  const dataDir = env('BENCH_DATA_DIR')
  const server = env('BENCH_SERVER') as GatewayServer
  const running =
    server === 'no-cache'
      ? await startNoCache(dataDir)
      : server === 'hooks'
        ? await startHooks(dataDir)
        : await startPixelflow(server, dataDir)
  const cpu = process.cpuUsage()
  process.on('message', async (message) => {
    if (message === 'mark') {
      process.send!(readCounters(cpu))
      return
    }
    const stopped: GatewayStopped = { ...readCounters(cpu), peakRssMb: peakRssMb() }
    await running.close()
    process.send!(stopped, () => process.exit(0))
  })
  process.send!({ url: running.url } satisfies GatewayReady)
}

main().catch(failToParent)
