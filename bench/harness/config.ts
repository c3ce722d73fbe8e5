import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'

/**
 * The service's config for a bench: embedded drivers under `dataDir`, workers off (each part
 * starts what it measures), no logs, and the per-owner rate limits off (0), since one bench owner
 * sends far more than a real client may and the limiter would answer 429 instead of measuring.
 */
export function benchConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_WORKER_ENABLED: 'false',
    PIXELFLOW_LOG_LEVEL: 'silent',
    ...RATE_LIMITS_OFF,
    ...env,
  })
}

/** Every per-owner limit off: the end-to-end part passes the same to its `node dist/…` processes. */
export const RATE_LIMITS_OFF = {
  PIXELFLOW_RATE_LIMIT_READS: '0',
  PIXELFLOW_RATE_LIMIT_UPLOADS: '0',
  PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '0',
  PIXELFLOW_RATE_LIMIT_ANONYMOUS: '0',
} as const
