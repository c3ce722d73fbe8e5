import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { trace } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'
import { currentTraceparent, startTracing, tracer, tracesUrl } from './tracing.js'

describe('startTracing', () => {
  it('registers nothing without an endpoint: the global tracer provider stays the no-op', async () => {
    const stop = await startTracing({ serviceName: 'pixelflow' })
    const span = tracer().startSpan('probe')
    expect(span.isRecording()).toBe(false)
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false)
    span.end()
    expect(currentTraceparent()).toBeUndefined()
    // The proxy has no SDK delegate behind it.
    const proxy = trace.getTracerProvider() as { getDelegate?: () => object }
    expect(proxy.getDelegate?.().constructor.name).toBe('NoopTracerProvider')
    await stop()
  })

  it('with an endpoint, exports spans over OTLP/HTTP under the service name until stopped', async () => {
    const received: { url?: string; body: string }[] = []
    const collector = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk) => {
        body += chunk
      })
      req.on('end', () => {
        received.push({ url: req.url, body })
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve))
    const { port } = collector.address() as AddressInfo
    try {
      const stop = await startTracing({
        endpoint: `http://127.0.0.1:${port}`,
        serviceName: 'pf-test',
      })
      const span = tracer().startSpan('probe')
      expect(span.isRecording()).toBe(true)
      span.end()
      await stop() // flushes the batch
      expect(received).toHaveLength(1)
      expect(received[0]!.url).toBe('/v1/traces')
      expect(received[0]!.body).toContain('pf-test')
      expect(received[0]!.body).toContain('probe')
      expect(tracer().startSpan('after').isRecording()).toBe(false)
    } finally {
      collector.close()
    }
  })

  it('sends traces to /v1/traces under the collector’s base URL', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces')
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces')
    expect(tracesUrl('http://c:4318/v1/traces')).toBe('http://c:4318/v1/traces')
  })
})
