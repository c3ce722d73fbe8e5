import { describe, expect, it } from 'vitest'
import { loadConfig } from './load.js'

describe('loadConfig: outbound allow-list and webhooks', () => {
  it('allows nothing special by default and has bounded webhook defaults', () => {
    const config = loadConfig({})
    expect(config.outbound.allow).toEqual([])
    expect(config.webhooks).toEqual({
      maxEndpoints: 10,
      timeoutMs: 10_000,
      maxAttempts: 12,
      backoffBaseMs: 30_000,
      backoffMaxMs: 3_600_000,
      concurrency: 8,
      leaseMs: 60_000,
      intervalMs: 1_000,
      batchSize: 100,
      retentionDays: 30,
    })
  })

  it('reads the allow-list as a comma-separated list and refuses a malformed entry at start', () => {
    const config = loadConfig({ PIXELFLOW_OUTBOUND_ALLOW: ' 10.0.0.0/8, hooks.internal:8443 ' })
    expect(config.outbound.allow).toEqual(['10.0.0.0/8', 'hooks.internal:8443'])
    expect(() => loadConfig({ PIXELFLOW_OUTBOUND_ALLOW: '10.0.0.0/40' })).toThrow(
      /\/outbound\/allow: .*10\.0\.0\.0\/40/,
    )
  })

  it('refuses a lease that does not outlast an attempt', () => {
    expect(() =>
      loadConfig({ PIXELFLOW_WEBHOOK_TIMEOUT_MS: '5000', PIXELFLOW_WEBHOOK_LEASE_MS: '5000' }),
    ).toThrow(/PIXELFLOW_WEBHOOK_LEASE_MS must be longer/)
  })
})
