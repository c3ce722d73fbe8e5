import { type Static, Type } from '@sinclair/typebox'
import { OUTPUT_FORMATS } from '../domain/formats.js'
import { DeliverySchema } from './schema-delivery.js'
import { Int } from './schema-parts.js'

const POSITIONS = [
  'northwest',
  'north',
  'northeast',
  'west',
  'centre',
  'east',
  'southwest',
  'south',
  'southeast',
] as const

export const PresetSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }),
  width: Type.Integer({ minimum: 1, maximum: 8192 }),
  /**
   * The watermark on this preset: unset, the mark's own rule (widths from `minWidth` up); `off`,
   * never; `on`, always; a position, always and there.
   */
  watermark: Type.Optional(
    Type.Union([Type.Literal('on'), Type.Literal('off'), ...POSITIONS.map((p) => Type.Literal(p))]),
  ),
})

export const OutputFormat = Type.Union(OUTPUT_FORMATS.map((format) => Type.Literal(format)))

export const WatermarkSchema = Type.Object({
  text: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  image: Type.Optional(Type.String({ minLength: 1 })),
  position: Type.Union(
    POSITIONS.map((p) => Type.Literal(p)),
    { default: 'southeast' },
  ),
  opacity: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
  /** Variants narrower than this are left unmarked: a watermark on a thumbnail is noise. */
  minWidth: Int(1, 1024),
})

/** Lease, retries and backoff: the queue contract (src/queue/queue.ts), the same for every driver. */
const QueueCommon = {
  leaseMs: Type.Integer({ minimum: 500 }),
  maxAttempts: Type.Integer({ minimum: 1 }),
  backoffBaseMs: Type.Integer({ minimum: 1 }),
  backoffMaxMs: Type.Integer({ minimum: 1 }),
}

/**
 * The circuit breaker in front of Redis (cache and rate limiter): after `breakerFailures`
 * consecutive failures calls skip Redis for `breakerCooldownMs`, then one probe decides. load.ts
 * always sets both; a slice built by hand without them has no breaker.
 */
const RedisBreaker = {
  breakerFailures: Type.Optional(Type.Integer({ minimum: 1 })),
  breakerCooldownMs: Type.Optional(Type.Integer({ minimum: 1 })),
}

/**
 * The one configuration schema. Defaults that do not depend on other values live here;
 * paths derived from `dataDir` are filled in by load.ts. Driver slices are discriminated
 * unions on `driver` so each `create<Port>` switch is exhaustive. The delivery slice is in
 * schema-delivery.ts.
 */
export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: './data' }),
    server: Type.Object({
      host: Type.String({ default: '0.0.0.0' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
      /** Base of the absolute links in responses; defaults to http://localhost:<port>. */
      publicUrl: Type.Optional(Type.String()),
    }),
    storage: Type.Union([
      Type.Object({ driver: Type.Literal('local'), root: Type.String() }),
      Type.Object({
        driver: Type.Literal('s3'),
        bucket: Type.String({ minLength: 3 }),
        region: Type.String(),
        /** An S3-compatible store (MinIO, Ceph, R2…); with it, path-style addressing is the usual choice. */
        endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
        forcePathStyle: Type.Boolean(),
        prefix: Type.Optional(Type.String()),
        accessKeyId: Type.Optional(Type.String()),
        secretAccessKey: Type.Optional(Type.String()),
      }),
    ]),
    /** Driver-specific defaults are filled by load.ts (schema defaults inside unions are not applied). */
    queue: Type.Union([
      Type.Object({ driver: Type.Literal('sqlite'), path: Type.String(), ...QueueCommon }),
      Type.Object({
        driver: Type.Literal('rabbitmq'),
        url: Type.String({ pattern: '^amqps?://' }),
        queue: Type.String({ minLength: 1 }),
        prefetch: Type.Optional(Type.Integer({ minimum: 1 })),
        ...QueueCommon,
      }),
      Type.Object({
        driver: Type.Literal('sqs'),
        queueUrl: Type.String({ pattern: '^https?://' }),
        /** Unset: the dead-letter target of the queue's RedrivePolicy. */
        deadQueueUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
        region: Type.String(),
        endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
        ...QueueCommon,
      }),
    ]),
    metadata: Type.Object({
      /**
       * One entry per shard, SQLite file paths or postgres:// URLs; their order is the shard id.
       * Seeds the registry on the first start; later shards join with `pixelflow shards add`.
       */
      shards: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 4096 }),
      /** The control database (API keys, settings, shard registry, bucket directory): a path or a postgres:// URL. */
      control: Type.String({ minLength: 1 }),
      /** owner → bucket: hash (default), range (ordered owner-id ranges) or directory (per-owner placement, hash as fallback). */
      strategy: Type.Union(
        [Type.Literal('hash'), Type.Literal('range'), Type.Literal('directory')],
        { default: 'hash' },
      ),
      /** Split points of the range strategy, ascending: k-1 points make k ranges. */
      rangeSplits: Type.Array(Type.String()),
      /** How often a process reloads the directory besides on a refusal (new shards, placements). */
      directoryRefreshMs: Int(100, 5_000),
      /** Connections per PostgreSQL shard pool. */
      poolSize: Int(1, 10),
    }),
    relay: Type.Object({
      enabled: Type.Boolean({ default: true }),
      /** How often the relay sweeps the outbox when nothing nudged it (a new upload does). */
      intervalMs: Int(10, 500),
    }),
    worker: Type.Object({
      enabled: Type.Boolean({ default: true }),
      concurrency: Int(1, 2),
      pollMs: Int(10, 250),
    }),
    limits: Type.Object({
      maxUploadBytes: Int(1, 50 * 1024 * 1024),
      maxInputPixels: Int(1, 50_000_000),
      maxFrames: Int(1, 100),
    }),
    /** How POST /v1/images takes bytes (src/images). */
    images: Type.Object({
      /** The same bytes from the same owner return the existing image instead of a new one. */
      dedupe: Type.Boolean({ default: true }),
      /** Upload from a URL: the whole fetch (connect, redirects, every byte) within this. */
      urlTimeoutMs: Int(100, 30_000),
    }),
    processing: Type.Object({
      presets: Type.Array(PresetSchema, { minItems: 1 }),
      formats: Type.Array(OutputFormat, { minItems: 1 }),
      quality: Type.Object({
        jpeg: Int(1, 82),
        webp: Int(1, 80),
        avif: Int(1, 55),
      }),
      /**
       * libvips' operation cache, in MB. It helps only when the same image is processed twice,
       * which a worker never does on purpose, so by default it holds no memory.
       */
      vipsCacheMb: Int(0, 0),
      /**
       * Whole-image decoder memory (progressive JPEG, interlaced PNG) that a process's renders may
       * hold at once, in MB: beyond it a decode waits for the others. 0: no limit.
       */
      decodeMemoryMb: Int(0, 128),
      /**
       * The nice value of libvips' render threads in a process that also serves the API (`serve`,
       * `api`): the event loop gets the CPU first. 0 leaves them at the process's own.
       */
      renderNice: Type.Integer({ minimum: 0, maximum: 19, default: 10 }),
      placeholder: Type.Union(
        [Type.Literal('thumbhash'), Type.Literal('blurhash'), Type.Literal('none')],
        {
          default: 'thumbhash',
        },
      ),
      watermark: Type.Optional(WatermarkSchema),
    }),
    auth: Type.Object({
      /** JWT bearer tokens, beside API keys: HS256 with `secret`, or RS256/ES256 from `jwksUrl`. */
      jwt: Type.Optional(
        Type.Object({
          secret: Type.Optional(Type.String({ minLength: 32 })),
          jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
          issuer: Type.Optional(Type.String()),
          /** Required: without it a token minted for any other service of the same issuer passes. */
          audience: Type.String({ minLength: 1 }),
          ownerClaim: Type.String({ default: 'sub' }),
          /** Longest accepted lifetime (exp − iat, and exp − now); a token without `exp` is refused. */
          maxLifetimeSeconds: Int(1, 86_400),
          /** The only issuer whose tokens may carry the `admin` scope; unset, a JWT never grants it. */
          adminIssuer: Type.Optional(Type.String({ minLength: 1 })),
        }),
      ),
      /** How long a dashboard session lasts (src/auth/sessions.ts): short, it rides in a cookie. */
      sessionTtlSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 3_600 }),
    }),
    delivery: DeliverySchema,
    http: Type.Object({
      corsOrigins: Type.Array(Type.String({ minLength: 1 })),
      /**
       * Which X-Forwarded-For entries to believe (Fastify's trustProxy): false (none), a hop count,
       * or the proxies' addresses/CIDRs. Never `true` (every hop): that lets a client pick its IP.
       */
      trustProxy: Type.Union(
        [
          Type.Literal(false),
          Type.Integer({ minimum: 1 }),
          Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        ],
        { default: false },
      ),
      /** Slow clients: the request head, the whole request, and silence on a connection. */
      headersTimeoutMs: Int(1, 10_000),
      requestTimeoutMs: Int(1, 120_000),
      idleTimeoutMs: Int(1, 30_000),
    }),
    /** Where /metrics is served: its own port, behind a bearer token, or (opt-in) openly on the API port. */
    metrics: Type.Object({
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
      token: Type.Optional(Type.String({ minLength: 16 })),
      public: Type.Boolean({ default: false }),
    }),
    rateLimit: Type.Object({
      store: Type.Union([
        Type.Object({ driver: Type.Literal('memory') }),
        Type.Object({
          driver: Type.Literal('redis'),
          url: Type.String(),
          prefix: Type.String(),
          failurePolicy: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
          timeoutMs: Type.Integer({ minimum: 1 }),
          ...RedisBreaker,
        }),
      ]),
      windowMs: Int(1, 60_000),
      /** Per owner and window: reads of the API; uploads, and uploads in flight at once. 0 turns a limit off. */
      reads: Int(0, 1200),
      uploads: Int(0, 120),
      concurrentUploads: Int(0, 8),
      /** Per client IP and window, on routes without credentials (delivery, failed authentication). */
      anonymous: Int(0, 6000),
    }),
    quotas: Type.Object({
      /** Per owner; 0 means no quota. */
      maxImages: Int(0, 0),
      maxBytes: Int(0, 0),
    }),
    cache: Type.Union([
      Type.Object({
        driver: Type.Literal('memory'),
        maxEntries: Type.Integer({ minimum: 1 }),
        ttlMs: Type.Integer({ minimum: 1 }),
      }),
      Type.Object({
        driver: Type.Literal('redis'),
        url: Type.String(),
        prefix: Type.String(),
        maxEntries: Type.Integer({ minimum: 1 }),
        ttlMs: Type.Integer({ minimum: 1 }),
        l1TtlMs: Type.Integer({ minimum: 1 }),
        ...RedisBreaker,
      }),
    ]),
    log: Type.Object({ level: Type.String({ default: 'info' }) }),
    /**
     * OpenTelemetry tracing (src/observability/tracing.ts): off unless an OTLP endpoint is set,
     * then spans go to it over OTLP/HTTP under `serviceName`.
     */
    tracing: Type.Object({
      endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
      serviceName: Type.String({ minLength: 1, default: 'pixelflow' }),
    }),
    /**
     * Resumable (tus) and direct-to-S3 uploads and upload tokens (src/uploads). Incomplete uploads
     * are removed `expirySeconds` after they began, by the relay's process every `sweepIntervalMs`.
     */
    uploads: Type.Object({
      /** Where the tus file store keeps incomplete uploads (local storage driver). */
      tusDirectory: Type.String({ minLength: 1 }),
      expirySeconds: Int(1, 86_400),
      sweepIntervalMs: Int(100, 600_000),
      /** Lifetime of a presigned direct-upload request. */
      directUrlTtlSeconds: Type.Integer({ minimum: 1, maximum: 3_600, default: 900 }),
      /** The longest lifetime a backend may give an upload token. */
      tokenMaxTtlSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 3_600 }),
    }),
    /**
     * Outbound requests to URLs users give (webhook endpoints, upload from a URL) reach only public
     * unicast addresses, plus what this list names: CIDR ranges, addresses, host[:port] entries
     * (src/lib/ssrf.ts). load.ts checks every entry.
     */
    outbound: Type.Object({ allow: Type.Array(Type.String({ minLength: 1 }), { default: [] }) }),
    /**
     * Webhooks (src/webhooks): endpoints per owner, and the relay role's delivery of the event
     * outbox to them. After attempt n fails the next waits between half and all of
     * min(backoffMaxMs, backoffBaseMs·2^(n-1));
     * after maxAttempts failures a delivery is dead. A process claims deliveries for leaseMs.
     */
    webhooks: Type.Object({
      maxEndpoints: Int(1, 10),
      timeoutMs: Int(100, 10_000),
      maxAttempts: Int(1, 12),
      backoffBaseMs: Int(1, 30_000),
      backoffMaxMs: Int(1, 3_600_000),
      concurrency: Int(1, 8),
      leaseMs: Int(1_000, 60_000),
      intervalMs: Int(10, 1_000),
      batchSize: Int(1, 100),
      /** Delivered and dead deliveries are removed this long after their last attempt. */
      retentionDays: Int(1, 30),
    }),
    /**
     * The live event stream (src/events, `GET /v1/events`). Events are kept `retentionSeconds`
     * (the relay's process prunes every `pruneIntervalMs`); a stream re-reads the shards when a
     * wake-up hint arrives (in-process, or Redis pub/sub on `redisUrl`) and every `pollMs` in any
     * case, so a lost hint only delays; a comment every `heartbeatMs` keeps proxies from closing
     * an idle stream. At most `maxStreamsPerOwner` streams per owner and `maxStreams` in all per
     * process.
     */
    events: Type.Object({
      retentionSeconds: Int(60, 86_400),
      pruneIntervalMs: Int(100, 60_000),
      pollMs: Int(10, 5_000),
      heartbeatMs: Int(10, 15_000),
      maxStreamsPerOwner: Int(1, 5),
      maxStreams: Int(1, 1_000),
      redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://' })),
      channel: Type.String({ minLength: 1, default: 'pixelflow:events' }),
    }),
    shutdownGraceMs: Int(0, 10_000),
    /**
     * The reconciler (src/reconcile): images queued or processing past `stuckAfterMs` with no
     * outbox row are re-enqueued up to `maxRequeues` times, then failed PROCESSING_STUCK; dead jobs
     * whose image is still unfinished fail it. Run by the relay's process, every `intervalMs`,
     * at most `batchSize` images per shard and run.
     */
    reconcile: Type.Object({
      enabled: Type.Boolean({ default: true }),
      intervalMs: Int(100, 60_000),
      stuckAfterMs: Int(1_000, 1_800_000),
      maxRequeues: Int(0, 3),
      batchSize: Int(1, 100),
    }),
    /**
     * Fault injection for the fault tests. load.ts fills it only when NODE_ENV=test (the Docker
     * image sets production), so no deployment's environment can switch a hook on.
     */
    testHooks: Type.Object({
      /** Worker: SIGKILL its own process on starting an image of this owner (a crash loop). */
      crashWorkerForOwner: Type.Optional(Type.String({ minLength: 1 })),
      /** API: SIGKILL its own process right after an upload's shard commit, before the 202. */
      killAfterUploadCommit: Type.Boolean({ default: false }),
    }),
  },
  { additionalProperties: false },
)

export type Config = Static<typeof ConfigSchema>
export type Preset = Static<typeof PresetSchema>
export type WatermarkConfig = Static<typeof WatermarkSchema>
export type ServerConfig = Config['server']
export type StorageConfig = Config['storage']
export type QueueConfig = Config['queue']
export type MetadataConfig = Config['metadata']
export type WorkerConfig = Config['worker']
export type LimitsConfig = Config['limits']
export type ImagesConfig = Config['images']
export type ProcessingConfig = Config['processing']
export type AuthConfig = Config['auth']
export type DeliveryConfig = Config['delivery']
export type HttpConfig = Config['http']
export type MetricsConfig = Config['metrics']
export type RateLimitConfig = Config['rateLimit']
export type QuotasConfig = Config['quotas']
export type CacheConfig = Config['cache']
export type ReconcileConfig = Config['reconcile']
export type TestHooks = Config['testHooks']
export type TracingConfig = Config['tracing']
export type UploadsConfig = Config['uploads']
export type OutboundConfig = Config['outbound']
export type WebhooksConfig = Config['webhooks']
export type EventsConfig = Config['events']
