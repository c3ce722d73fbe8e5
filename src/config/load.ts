import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { deliveryFromEnv } from './load-delivery.js'
import { crossFieldProblems, lossyNumbers } from './problems.js'
import { type Config, ConfigSchema } from './schema.js'
import { type Env, list } from './values.js'

export const DEFAULT_SHARD_COUNT = 4
export const DEFAULT_PRESETS = 'thumb:320,medium:1024,large:2048'

/**
 * Reads the environment once (entry points only), validates it against ConfigSchema with
 * coercion and defaults, and returns a deep-frozen Config. Every problem is reported at once.
 */
export function loadConfig(env: Env): Config {
  const raw = fromEnv(env)
  const converted = Value.Convert(ConfigSchema, structuredClone(raw))
  const withDefaults = Value.Default(ConfigSchema, converted)
  const problems = [
    ...lossyNumbers(raw, converted, ''),
    ...[...Value.Errors(ConfigSchema, withDefaults)].map((e) => `${e.path || '/'}: ${e.message}`),
    ...crossFieldProblems(withDefaults as Config),
  ]
  if (problems.length > 0)
    throw new Error(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
  return deepFreeze(withDefaults as Config)
}

function fromEnv(env: Env): unknown {
  const dataDir = resolve(env.PIXELFLOW_DATA_DIR ?? './data')
  return {
    dataDir,
    server: {
      host: env.PIXELFLOW_HOST,
      port: env.PIXELFLOW_PORT ?? env.PORT,
      publicUrl: env.PIXELFLOW_PUBLIC_URL,
    },
    storage: storage(env, dataDir),
    queue: queue(env, dataDir),
    metadata: {
      shards: list(env.PIXELFLOW_SHARDS) ?? defaultShards(dataDir),
      control: env.PIXELFLOW_CONTROL_DB ?? join(dataDir, 'control.db'),
      strategy: env.PIXELFLOW_SHARD_STRATEGY,
      rangeSplits: list(env.PIXELFLOW_SHARD_RANGES) ?? [],
      directoryRefreshMs: env.PIXELFLOW_DIRECTORY_REFRESH_MS,
      poolSize: env.PIXELFLOW_SHARD_POOL_SIZE,
    },
    relay: { enabled: env.PIXELFLOW_RELAY_ENABLED, intervalMs: env.PIXELFLOW_RELAY_INTERVAL_MS },
    worker: {
      enabled: env.PIXELFLOW_WORKER_ENABLED,
      concurrency: env.PIXELFLOW_WORKER_CONCURRENCY ?? availableParallelism(),
      pollMs: env.PIXELFLOW_WORKER_POLL_MS,
    },
    limits: {
      maxUploadBytes: env.PIXELFLOW_MAX_UPLOAD_BYTES,
      maxInputPixels: env.PIXELFLOW_MAX_INPUT_PIXELS,
      maxFrames: env.PIXELFLOW_MAX_FRAMES,
    },
    images: { dedupe: env.PIXELFLOW_DEDUPE, urlTimeoutMs: env.PIXELFLOW_URL_UPLOAD_TIMEOUT_MS },
    processing: {
      presets: parsePresets(env.PIXELFLOW_PRESETS ?? DEFAULT_PRESETS),
      formats: list(env.PIXELFLOW_FORMATS) ?? ['webp', 'jpeg'],
      quality: {
        jpeg: env.PIXELFLOW_JPEG_QUALITY,
        webp: env.PIXELFLOW_WEBP_QUALITY,
        avif: env.PIXELFLOW_AVIF_QUALITY,
      },
      vipsCacheMb: env.PIXELFLOW_VIPS_CACHE_MB,
      decodeMemoryMb: env.PIXELFLOW_DECODE_MEMORY_MB,
      renderNice: env.PIXELFLOW_RENDER_NICE,
      placeholder: env.PIXELFLOW_PLACEHOLDER,
      watermark: watermark(env),
    },
    auth: { jwt: jwt(env), sessionTtlSeconds: env.PIXELFLOW_SESSION_TTL_SECONDS },
    delivery: deliveryFromEnv(env),
    http: {
      corsOrigins: list(env.PIXELFLOW_CORS_ORIGINS) ?? ['*'],
      trustProxy: trustProxy(env.PIXELFLOW_TRUST_PROXY),
      headersTimeoutMs: env.PIXELFLOW_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.PIXELFLOW_HTTP_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: env.PIXELFLOW_HTTP_IDLE_TIMEOUT_MS,
    },
    metrics: {
      port: env.PIXELFLOW_METRICS_PORT,
      token: env.PIXELFLOW_METRICS_TOKEN,
      public: env.PIXELFLOW_METRICS_PUBLIC,
    },
    rateLimit: {
      store: rateLimitStore(env),
      windowMs: env.PIXELFLOW_RATE_LIMIT_WINDOW_MS,
      reads: env.PIXELFLOW_RATE_LIMIT_READS,
      uploads: env.PIXELFLOW_RATE_LIMIT_UPLOADS,
      concurrentUploads: env.PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS,
      anonymous: env.PIXELFLOW_RATE_LIMIT_ANONYMOUS,
    },
    quotas: { maxImages: env.PIXELFLOW_QUOTA_MAX_IMAGES, maxBytes: env.PIXELFLOW_QUOTA_MAX_BYTES },
    cache: cache(env),
    log: { level: env.PIXELFLOW_LOG_LEVEL },
    tracing: {
      endpoint: env.PIXELFLOW_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      serviceName: env.PIXELFLOW_SERVICE_NAME,
    },
    uploads: {
      tusDirectory: env.PIXELFLOW_TUS_DIR ?? join(dataDir, 'tus'),
      expirySeconds: env.PIXELFLOW_UPLOAD_EXPIRY_SECONDS,
      sweepIntervalMs: env.PIXELFLOW_UPLOAD_SWEEP_INTERVAL_MS,
      directUrlTtlSeconds: env.PIXELFLOW_DIRECT_UPLOAD_URL_TTL_SECONDS,
      tokenMaxTtlSeconds: env.PIXELFLOW_UPLOAD_TOKEN_MAX_TTL_SECONDS,
    },
    outbound: { allow: list(env.PIXELFLOW_OUTBOUND_ALLOW) ?? [] },
    webhooks: {
      maxEndpoints: env.PIXELFLOW_WEBHOOK_MAX_ENDPOINTS,
      timeoutMs: env.PIXELFLOW_WEBHOOK_TIMEOUT_MS,
      maxAttempts: env.PIXELFLOW_WEBHOOK_MAX_ATTEMPTS,
      backoffBaseMs: env.PIXELFLOW_WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: env.PIXELFLOW_WEBHOOK_BACKOFF_MAX_MS,
      concurrency: env.PIXELFLOW_WEBHOOK_CONCURRENCY,
      leaseMs: env.PIXELFLOW_WEBHOOK_LEASE_MS,
      intervalMs: env.PIXELFLOW_WEBHOOK_INTERVAL_MS,
      batchSize: env.PIXELFLOW_WEBHOOK_BATCH,
      retentionDays: env.PIXELFLOW_WEBHOOK_RETENTION_DAYS,
    },
    events: {
      retentionSeconds: env.PIXELFLOW_EVENTS_RETENTION_SECONDS,
      pruneIntervalMs: env.PIXELFLOW_EVENTS_PRUNE_INTERVAL_MS,
      pollMs: env.PIXELFLOW_EVENTS_POLL_MS,
      heartbeatMs: env.PIXELFLOW_EVENTS_HEARTBEAT_MS,
      maxStreamsPerOwner: env.PIXELFLOW_EVENTS_MAX_STREAMS_PER_OWNER,
      maxStreams: env.PIXELFLOW_EVENTS_MAX_STREAMS,
      redisUrl: env.PIXELFLOW_REDIS_URL || undefined,
      channel: `${env.PIXELFLOW_REDIS_PREFIX ?? 'pixelflow:'}events`,
    },
    shutdownGraceMs: env.PIXELFLOW_SHUTDOWN_GRACE_MS,
    reconcile: {
      enabled: env.PIXELFLOW_RECONCILE_ENABLED,
      intervalMs: env.PIXELFLOW_RECONCILE_INTERVAL_MS,
      stuckAfterMs: env.PIXELFLOW_RECONCILE_STUCK_AFTER_MS,
      maxRequeues: env.PIXELFLOW_RECONCILE_MAX_REQUEUES,
      batchSize: env.PIXELFLOW_RECONCILE_BATCH,
    },
    // Only a test run can set a hook: a production environment never reaches these variables.
    testHooks:
      env.NODE_ENV === 'test'
        ? {
            crashWorkerForOwner: env.PIXELFLOW_TEST_CRASH_WORKER_FOR_OWNER,
            killAfterUploadCommit: env.PIXELFLOW_TEST_KILL_AFTER_UPLOAD_COMMIT,
          }
        : {},
  }
}

function watermark(env: Env): unknown {
  if (!env.PIXELFLOW_WATERMARK_TEXT && !env.PIXELFLOW_WATERMARK_IMAGE) return undefined
  return {
    text: env.PIXELFLOW_WATERMARK_TEXT,
    image: env.PIXELFLOW_WATERMARK_IMAGE && resolve(env.PIXELFLOW_WATERMARK_IMAGE),
    position: env.PIXELFLOW_WATERMARK_POSITION,
    opacity: env.PIXELFLOW_WATERMARK_OPACITY,
    minWidth: env.PIXELFLOW_WATERMARK_MIN_WIDTH,
  }
}

/** PIXELFLOW_STORAGE_DRIVER: local (default) or s3. */
function storage(env: Env, dataDir: string): unknown {
  if ((env.PIXELFLOW_STORAGE_DRIVER ?? 'local') === 'local')
    return { driver: 'local', root: env.PIXELFLOW_STORAGE_ROOT ?? join(dataDir, 'objects') }
  return {
    driver: env.PIXELFLOW_STORAGE_DRIVER,
    bucket: env.PIXELFLOW_S3_BUCKET,
    region: env.PIXELFLOW_S3_REGION ?? 'us-east-1',
    endpoint: env.PIXELFLOW_S3_ENDPOINT,
    forcePathStyle: bool(env.PIXELFLOW_S3_FORCE_PATH_STYLE, Boolean(env.PIXELFLOW_S3_ENDPOINT)),
    prefix: env.PIXELFLOW_S3_PREFIX,
    accessKeyId: env.PIXELFLOW_S3_ACCESS_KEY_ID,
    secretAccessKey: env.PIXELFLOW_S3_SECRET_ACCESS_KEY,
  }
}

/** PIXELFLOW_QUEUE_DRIVER: sqlite (default), rabbitmq or sqs; lease and retry settings are shared. */
function queue(env: Env, dataDir: string): unknown {
  const common = {
    leaseMs: int(env.PIXELFLOW_QUEUE_LEASE_MS, 60_000),
    maxAttempts: int(env.PIXELFLOW_QUEUE_MAX_ATTEMPTS, 5),
    backoffBaseMs: int(env.PIXELFLOW_QUEUE_BACKOFF_BASE_MS, 1_000),
    backoffMaxMs: int(env.PIXELFLOW_QUEUE_BACKOFF_MAX_MS, 300_000),
  }
  switch (env.PIXELFLOW_QUEUE_DRIVER ?? 'sqlite') {
    case 'sqlite':
      return {
        driver: 'sqlite',
        path: env.PIXELFLOW_QUEUE_PATH ?? join(dataDir, 'queue.db'),
        ...common,
      }
    case 'rabbitmq': {
      const prefetch = env.PIXELFLOW_RABBITMQ_PREFETCH
      return {
        driver: 'rabbitmq',
        url: env.PIXELFLOW_RABBITMQ_URL,
        queue: env.PIXELFLOW_RABBITMQ_QUEUE ?? 'pixelflow.process-image',
        ...(prefetch ? { prefetch: int(prefetch, 0) } : {}),
        ...common,
      }
    }
    case 'sqs':
      return {
        driver: 'sqs',
        queueUrl: env.PIXELFLOW_SQS_QUEUE_URL,
        deadQueueUrl: env.PIXELFLOW_SQS_DEAD_QUEUE_URL,
        region: env.PIXELFLOW_SQS_REGION ?? 'us-east-1',
        endpoint: env.PIXELFLOW_SQS_ENDPOINT,
        ...common,
      }
    default:
      return { driver: env.PIXELFLOW_QUEUE_DRIVER }
  }
}

/** Inside unions the schema cannot coerce: plain digits become a number, anything else stays a string for the schema to refuse. */
function int(value: string | undefined, fallback: number): number | string {
  if (value === undefined) return fallback
  return /^\d+$/.test(value.trim()) ? Number(value) : value
}

function bool(value: string | undefined, fallback: boolean): boolean | string {
  if (value === undefined) return fallback
  return value === 'true' ? true : value === 'false' ? false : value
}

/** One switch: with PIXELFLOW_REDIS_URL set, rate limits and the metadata cache are shared through Redis. */
function driverOf(env: Env, own: string | undefined): string {
  return own ?? (env.PIXELFLOW_REDIS_URL ? 'redis' : 'memory')
}

function rateLimitStore(env: Env): unknown {
  if (driverOf(env, env.PIXELFLOW_RATE_LIMIT_DRIVER) === 'memory') return { driver: 'memory' }
  return {
    driver: 'redis',
    url: env.PIXELFLOW_REDIS_URL,
    prefix: `${env.PIXELFLOW_REDIS_PREFIX ?? 'pixelflow:'}ratelimit:`,
    failurePolicy: env.PIXELFLOW_RATE_LIMIT_ON_REDIS_FAILURE ?? 'open',
    timeoutMs: env.PIXELFLOW_RATE_LIMIT_TIMEOUT_MS ?? 250,
    ...redisBreaker(env),
  }
}

function cache(env: Env): unknown {
  const common = {
    maxEntries: env.PIXELFLOW_CACHE_MAX_ENTRIES ?? 10_000,
    ttlMs: env.PIXELFLOW_CACHE_TTL_MS ?? 60_000,
  }
  if (driverOf(env, env.PIXELFLOW_CACHE_DRIVER) === 'memory') return { driver: 'memory', ...common }
  return {
    driver: 'redis',
    url: env.PIXELFLOW_REDIS_URL,
    prefix: env.PIXELFLOW_REDIS_PREFIX ?? 'pixelflow:',
    l1TtlMs: env.PIXELFLOW_CACHE_L1_TTL_MS ?? 5_000,
    ...common,
    ...redisBreaker(env),
  }
}

/** One breaker setting for both users of Redis; inside unions, so coerced here like int() does. */
function redisBreaker(env: Env): Record<string, unknown> {
  return {
    breakerFailures: int(env.PIXELFLOW_REDIS_BREAKER_FAILURES, 5),
    breakerCooldownMs: int(env.PIXELFLOW_REDIS_BREAKER_COOLDOWN_MS, 5_000),
  }
}

function jwt(env: Env): unknown {
  if (!env.PIXELFLOW_JWT_SECRET && !env.PIXELFLOW_JWT_JWKS_URL) return undefined
  return {
    secret: env.PIXELFLOW_JWT_SECRET,
    jwksUrl: env.PIXELFLOW_JWT_JWKS_URL,
    issuer: env.PIXELFLOW_JWT_ISSUER,
    audience: env.PIXELFLOW_JWT_AUDIENCE,
    ownerClaim: env.PIXELFLOW_JWT_OWNER_CLAIM,
    maxLifetimeSeconds: env.PIXELFLOW_JWT_MAX_LIFETIME_SECONDS,
    adminIssuer: env.PIXELFLOW_JWT_ADMIN_ISSUER,
  }
}

/**
 * PIXELFLOW_TRUST_PROXY: `false`, a hop count, or proxy addresses/CIDRs. `true` reads as 1 (one
 * load balancer in front, as it always documented): Fastify's own `true` trusts every hop, so the
 * leftmost X-Forwarded-For entry, which the client writes, would become its IP.
 */
function trustProxy(value: string | undefined): unknown {
  const text = value?.trim()
  if (text === undefined || text === '' || text === 'false' || text === '0') return false
  if (text === 'true') return 1
  if (/^\d+$/.test(text)) return Number(text)
  return list(text)
}

function defaultShards(dataDir: string): string[] {
  return Array.from({ length: DEFAULT_SHARD_COUNT }, (_, i) =>
    join(dataDir, 'shards', `shard-${i}.db`),
  )
}

/**
 * "thumb:320:off,medium:1024,large:2048:southwest" → [{ name: 'thumb', width: 320, watermark:
 * 'off' }, …]; the third part is the preset's watermark. A malformed item is left for the schema
 * to reject.
 */
export function parsePresets(value: string): unknown[] {
  return (list(value) ?? []).map((item) => {
    const [name, width, watermark, ...rest] = item.split(':')
    return rest.length > 0 ? { name, width: item } : { name, width: Number(width), watermark }
  })
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
