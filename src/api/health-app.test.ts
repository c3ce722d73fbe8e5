import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from '../observability/metrics.js'
import { buildMetricsApp } from './health-app.js'

describe('the metrics listener (PIXELFLOW_METRICS_PORT)', () => {
  const warnings: string[] = []
  const onWarning = (warning: Error & { code?: string }) =>
    warnings.push(warning.code ?? warning.name)
  afterEach(() => {
    process.off('warning', onWarning)
  })

  it('serves /metrics with no log line per scrape and no Fastify deprecation warning', async () => {
    process.on('warning', onWarning)
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const app = await buildMetricsApp({
      metrics: createMetrics(),
      logger: pino({ level: 'info' }, sink),
      access: { token: undefined },
    })
    const response = await app.inject('/metrics')
    await app.close()
    await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on a later tick
    expect(response.statusCode).toBe(200)
    expect(response.body).toContain('nodejs_eventloop_lag_p99_seconds')
    expect(lines.filter((line) => line.includes('request'))).toEqual([])
    expect(warnings.filter((code) => code.startsWith('FSTDEP'))).toEqual([])
  })
})
