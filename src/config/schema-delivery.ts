import { Type } from '@sinclair/typebox'
import { Int } from './schema-parts.js'

/**
 * The delivery slice of the config schema (schema.ts): URL signing, on-the-fly transforms
 * (src/transforms) and the CDN purger (src/purge). load-delivery.ts reads it from the environment.
 */
export const DeliverySchema = Type.Object({
  /** HMAC keys for private images' URLs; the first signs, all verify (rotation). Empty: one is generated and kept in the control database. */
  signingKeys: Type.Array(
    Type.Object({
      kid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,16}$' }),
      secret: Type.String({ minLength: 16 }),
    }),
  ),
  signedUrlTtlSeconds: Int(1, 3600),
  /** Presets that may be asked for without a signature: `/t/_/p:<name>/<id>` (public images only). */
  unsignedPresets: Type.Array(Type.String({ minLength: 1 })),
  /** On-the-fly transforms (src/transforms): what one request may ask for, and how many render at once. */
  transforms: Type.Object({
    /** Output width × height (after the device pixel ratio); more is refused with TRANSFORM_TOO_LARGE. */
    maxOutputPixels: Int(1, 16_000_000),
    /** Either side of the output, after the device pixel ratio. */
    maxDimension: Int(1, 8192),
    maxDpr: Type.Number({ minimum: 1, maximum: 8, default: 4 }),
    /** Renders at once in this process (libvips uses its own threads under each). */
    concurrency: Type.Integer({ minimum: 1 }),
    /** Renders waiting for a slot; past this a request is shed with 503 TRANSFORM_BUSY. */
    maxQueued: Int(0, 32),
    /** How long another process waits for a render of the same result before rendering it itself. */
    lockTtlMs: Int(1000, 30_000),
    /**
     * Derived results kept on a local-disk store, in bytes; past it the least recently used
     * go first (the relay role's sweep). 0: no budget. S3: use a lifecycle rule instead.
     */
    budgetBytes: Int(0, 5 * 1024 * 1024 * 1024),
    /** How often the budget sweep runs. */
    budgetSweepMs: Int(1000, 10 * 60_000),
    /** Redis for single flight across processes (PIXELFLOW_REDIS_URL); unset, each process renders its own. */
    redisUrl: Type.Optional(Type.String({ minLength: 1 })),
    redisPrefix: Type.String({ default: 'pixelflow:' }),
  }),
  /** Where a deleted image's cached URLs are purged: nowhere, nginx's cache folder, or CloudFront. */
  purge: Type.Union([
    Type.Object({ driver: Type.Literal('none') }),
    Type.Object({
      driver: Type.Literal('nginx'),
      /** proxy_cache_path of deploy/nginx/pixelflow.conf, on a filesystem this process can write. */
      cacheDir: Type.String({ minLength: 1 }),
      /** proxy_cache_path's `levels=`. */
      levels: Type.String({ pattern: '^[12](:[12]){0,2}$', default: '1:2' }),
    }),
    Type.Object({
      driver: Type.Literal('cloudfront'),
      distributionId: Type.String({ minLength: 1 }),
      /** Another endpoint (tests: moto_server). */
      endpoint: Type.Optional(Type.String({ pattern: '^https?://' })),
      /** Deletes within this window share one CreateInvalidation. */
      batchMs: Int(0, 1000),
    }),
  ]),
})
