import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { type Config, ConfigSchema } from './schema.js'

export const DEFAULT_SHARD_COUNT = 4
export const DEFAULT_PRESETS = 'thumb:320,medium:1024,large:2048'

type Env = Record<string, string | undefined>

/**
 * Reads the environment once (entry points only), validates it against ConfigSchema with
 * coercion and defaults, and returns a deep-frozen Config. Every problem is reported at once.
 */
export function loadConfig(env: Env): Config {
  const raw = fromEnv(env)
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw))
  const errors = [...Value.Errors(ConfigSchema, withDefaults)]
  if (errors.length > 0) {
    const lines = errors.map((e) => `  ${e.path || '/'}: ${e.message}`)
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`)
  }
  return deepFreeze(withDefaults as Config)
}

function fromEnv(env: Env): unknown {
  const dataDir = resolve(env.PIXELFLOW_DATA_DIR ?? './data')
  return {
    dataDir,
    server: { host: env.PIXELFLOW_HOST, port: env.PIXELFLOW_PORT ?? env.PORT, publicUrl: env.PIXELFLOW_PUBLIC_URL },
    storage: { driver: 'local', root: env.PIXELFLOW_STORAGE_ROOT ?? join(dataDir, 'objects') },
    queue: {
      driver: 'sqlite',
      path: env.PIXELFLOW_QUEUE_PATH ?? join(dataDir, 'queue.db'),
      leaseMs: env.PIXELFLOW_QUEUE_LEASE_MS,
      maxAttempts: env.PIXELFLOW_QUEUE_MAX_ATTEMPTS,
      backoffBaseMs: env.PIXELFLOW_QUEUE_BACKOFF_BASE_MS,
      backoffMaxMs: env.PIXELFLOW_QUEUE_BACKOFF_MAX_MS,
    },
    metadata: {
      shards: list(env.PIXELFLOW_SHARDS) ?? defaultShards(dataDir),
      controlPath: env.PIXELFLOW_CONTROL_PATH ?? join(dataDir, 'control.db'),
    },
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
    processing: {
      presets: parsePresets(env.PIXELFLOW_PRESETS ?? DEFAULT_PRESETS),
      formats: list(env.PIXELFLOW_FORMATS) ?? ['webp', 'jpeg'],
      quality: { jpeg: env.PIXELFLOW_JPEG_QUALITY, webp: env.PIXELFLOW_WEBP_QUALITY, avif: env.PIXELFLOW_AVIF_QUALITY },
      placeholder: env.PIXELFLOW_PLACEHOLDER,
      watermark: watermark(env),
    },
    log: { level: env.PIXELFLOW_LOG_LEVEL },
    shutdownGraceMs: env.PIXELFLOW_SHUTDOWN_GRACE_MS,
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

function defaultShards(dataDir: string): string[] {
  return Array.from({ length: DEFAULT_SHARD_COUNT }, (_, i) => join(dataDir, 'shards', `shard-${i}.db`))
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined
  return value.split(',').map((item) => item.trim()).filter(Boolean)
}

/** "thumb:320,medium:1024" → [{ name: 'thumb', width: 320 }, …]; a malformed item is left for the schema to reject. */
export function parsePresets(value: string): unknown[] {
  return (list(value) ?? []).map((item) => {
    const [name, width] = item.split(':')
    return { name, width: Number(width) }
  })
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
