import { describe, expect, it } from 'vitest'
import { loadConfig } from './load.js'

describe('loadConfig: the live event stream', () => {
  it('defaults: a day of retention, hints in-process, a 15 s heartbeat, 5 streams per owner', () => {
    expect(loadConfig({}).events).toEqual({
      retentionSeconds: 86_400,
      pruneIntervalMs: 60_000,
      pollMs: 5_000,
      heartbeatMs: 15_000,
      maxStreamsPerOwner: 5,
      maxStreams: 1_000,
      channel: 'pixelflow:events',
    })
  })

  it('reads its variables, and hints go over the Redis the cache uses', () => {
    const events = loadConfig({
      PIXELFLOW_EVENTS_RETENTION_SECONDS: '3600',
      PIXELFLOW_EVENTS_POLL_MS: '250',
      PIXELFLOW_EVENTS_HEARTBEAT_MS: '1000',
      PIXELFLOW_EVENTS_MAX_STREAMS_PER_OWNER: '2',
      PIXELFLOW_EVENTS_MAX_STREAMS: '50',
      PIXELFLOW_REDIS_URL: 'redis://cache:6379',
      PIXELFLOW_REDIS_PREFIX: 'tenant-a:',
    }).events
    expect(events).toMatchObject({
      retentionSeconds: 3600,
      pollMs: 250,
      heartbeatMs: 1000,
      maxStreamsPerOwner: 2,
      maxStreams: 50,
      redisUrl: 'redis://cache:6379',
      channel: 'tenant-a:events',
    })
  })

  it('refuses a retention under a minute and a fraction', () => {
    expect(() => loadConfig({ PIXELFLOW_EVENTS_RETENTION_SECONDS: '5' })).toThrow(
      /\/events\/retentionSeconds/,
    )
    expect(() => loadConfig({ PIXELFLOW_EVENTS_POLL_MS: '2.5' })).toThrow(/events\/pollMs/)
  })
})
