import { availableParallelism } from 'node:os'
import { resolve, sep } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from './load.js'

/** The value loadConfig gives for one variable, or 'refused' when it throws. */
function portFrom(value: string): number | 'refused' {
  try {
    return loadConfig({ PIXELFLOW_PORT: value }).server.port
  } catch {
    return 'refused'
  }
}

describe('loadConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  it('runs embedded under ./data with no configuration at all', () => {
    const config = loadConfig({})
    const data = resolve('data')
    expect(config.dataDir).toBe(data)
    expect(config.metadata.shards).toHaveLength(4)
    expect(new Set(config.metadata.shards).size).toBe(4)
    if (config.queue.driver !== 'sqlite' || config.storage.driver !== 'local')
      throw new Error('embedded drivers expected')
    for (const path of [
      ...config.metadata.shards,
      config.queue.path,
      config.storage.root,
      config.metadata.control,
    ]) {
      expect(path.startsWith(data + sep), path).toBe(true)
    }
    expect(config.server.port).toBe(8080)
    expect(config.processing.presets).toEqual([
      { name: 'thumb', width: 320 },
      { name: 'medium', width: 1024 },
      { name: 'large', width: 2048 },
    ])
    expect(config.processing.formats).toEqual(['webp', 'jpeg'])
    expect(config.worker.concurrency).toBe(availableParallelism())
  })

  it('parses overrides from the env it is given', () => {
    const config = loadConfig({
      PIXELFLOW_PRESETS: 'a:10,b:20',
      PIXELFLOW_FORMATS: 'avif',
      PIXELFLOW_PORT: '9000',
    })
    expect(config.processing.presets).toEqual([
      { name: 'a', width: 10 },
      { name: 'b', width: 20 },
    ])
    expect(config.processing.formats).toEqual(['avif'])
    expect(config.server.port).toBe(9000)
    expect(loadConfig({ PIXELFLOW_DATA_DIR: '/srv/pf' }).metadata.shards[0]).toBe(
      resolve('/srv/pf/shards/shard-0.db'),
    )
  })

  it('never reads process.env itself', () => {
    vi.stubEnv('PIXELFLOW_PORT', '1234')
    vi.stubEnv('PIXELFLOW_FORMATS', 'png')
    const config = loadConfig({})
    expect(config.server.port).toBe(8080)
    expect(config.processing.formats).toEqual(['webp', 'jpeg'])
  })

  it('throws one error that lists every problem', () => {
    const load = () =>
      loadConfig({ PIXELFLOW_PORT: 'x', PIXELFLOW_PRESETS: 'bad', PIXELFLOW_FORMATS: 'gif' })
    expect(load).toThrow(
      /\/server\/port[\s\S]*\/processing\/presets\/0[\s\S]*\/processing\/formats\/0/,
    )
  })

  it('refuses a port that is not a whole number instead of truncating it', () => {
    expect(portFrom('80.5')).toBe('refused')
    expect(portFrom('70000')).toBe('refused')
    expect([1000, 'refused']).toContain(portFrom('1e3')) // never 1
  })

  it('refuses two presets with the same name (their variants would share object keys)', () => {
    expect(() => loadConfig({ PIXELFLOW_PRESETS: 'a:10,a:20' })).toThrow(/preset/i)
  })

  it('returns a deeply frozen config', () => {
    const config = loadConfig({})
    for (const part of [
      config,
      config.server,
      config.queue,
      config.processing,
      config.processing.presets,
      config.processing.presets[0],
      config.processing.formats,
      config.metadata.shards,
    ]) {
      expect(Object.isFrozen(part)).toBe(true)
    }
    expect(() => {
      ;(config.server as { port: number }).port = 1
    }).toThrow(TypeError)
    expect(() => (config.processing.formats as string[]).push('png')).toThrow(TypeError)
  })

  it('switches a test hook on only when NODE_ENV=test, never in a production environment', () => {
    const hooks = {
      PIXELFLOW_TEST_CRASH_WORKER_FOR_OWNER: 'crasher',
      PIXELFLOW_TEST_KILL_AFTER_UPLOAD_COMMIT: 'true',
    }
    for (const NODE_ENV of ['production', undefined, 'development'])
      expect(loadConfig({ ...hooks, NODE_ENV }).testHooks).toEqual({
        killAfterUploadCommit: false,
      })
    expect(loadConfig({ ...hooks, NODE_ENV: 'test' }).testHooks).toEqual({
      crashWorkerForOwner: 'crasher',
      killAfterUploadCommit: true,
    })
  })

  it('reconciles by default: every minute, images stuck 30 min, 3 requeues, 100 per shard', () => {
    expect(loadConfig({}).reconcile).toEqual({
      enabled: true,
      intervalMs: 60_000,
      stuckAfterMs: 1_800_000,
      maxRequeues: 3,
      batchSize: 100,
    })
    expect(loadConfig({ PIXELFLOW_RECONCILE_MAX_REQUEUES: '0' }).reconcile.maxRequeues).toBe(0)
    expect(() => loadConfig({ PIXELFLOW_RECONCILE_STUCK_AFTER_MS: '10' })).toThrow(/stuckAfterMs/)
  })
  it('traces only when an OTLP endpoint is set, ours winning over the standard variable', () => {
    expect(loadConfig({}).tracing).toEqual({ serviceName: 'pixelflow' })
    expect(loadConfig({ PIXELFLOW_OTLP_ENDPOINT: '' }).tracing.endpoint).toBeUndefined()
    const standard = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }
    expect(loadConfig(standard).tracing.endpoint).toBe('http://collector:4318')
    const both = { ...standard, PIXELFLOW_OTLP_ENDPOINT: 'http://ours:4318' }
    expect(loadConfig(both).tracing.endpoint).toBe('http://ours:4318')
    expect(loadConfig({ PIXELFLOW_SERVICE_NAME: 'pf-eu' }).tracing.serviceName).toBe('pf-eu')
    expect(() => loadConfig({ PIXELFLOW_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/endpoint/)
  })
})

describe('HTTP front door settings', () => {
  it('has safe defaults: no proxy trusted, bounded timeouts, /metrics not public', () => {
    const config = loadConfig({})
    expect(config.http).toMatchObject({
      trustProxy: false,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 120_000,
      idleTimeoutMs: 30_000,
    })
    expect(config.metrics).toEqual({ public: false })
  })

  it('reads the metrics port, token and opt-in', () => {
    const config = loadConfig({
      PIXELFLOW_METRICS_PORT: '9464',
      PIXELFLOW_METRICS_TOKEN: 'a-metrics-token-of-length',
      PIXELFLOW_METRICS_PUBLIC: 'true',
    })
    expect(config.metrics).toEqual({
      port: 9464,
      token: 'a-metrics-token-of-length',
      public: true,
    })
  })

  it('refuses a metrics port equal to the API port, a short token, and a head timeout over the total', () => {
    expect(() => loadConfig({ PIXELFLOW_PORT: '9000', PIXELFLOW_METRICS_PORT: '9000' })).toThrow(
      /metrics\/port/,
    )
    expect(() => loadConfig({ PIXELFLOW_METRICS_TOKEN: 'short' })).toThrow(/metrics\/token/)
    expect(() =>
      loadConfig({
        PIXELFLOW_HTTP_HEADERS_TIMEOUT_MS: '5000',
        PIXELFLOW_HTTP_REQUEST_TIMEOUT_MS: '1000',
      }),
    ).toThrow(/headersTimeoutMs/)
  })
})
