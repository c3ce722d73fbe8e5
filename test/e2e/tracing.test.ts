import { trace } from '@opentelemetry/api'
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

/**
 * One trace from the upload request through the queue to the worker: the SDK is registered here
 * with an in-memory exporter (not OTLP), as startTracing registers it with an OTLP one.
 */
describe('tracing an upload', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  let h: Harness

  beforeAll(async () => {
    provider.register()
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.close()
    await provider.shutdown()
    trace.disable()
  })

  it('the worker span is a descendant of the upload request span, in the caller’s trace', async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736'
    const res = await h.upload(await makeJpeg(), 'image/jpeg', {
      traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`,
    })
    expect(res.statusCode).toBe(202)
    const image = await h.waitSettled(res.json().id)
    expect(image.status).toBe('ready')

    const spans = await eventually(() => {
      const finished = exporter.getFinishedSpans()
      const job = finished.find((s) => s.name === 'process-image')
      if (!job) throw new Error('no process-image span yet')
      return finished
    })
    const request = spans.find((s) => s.name === 'POST /v1/images')
    const job = spans.find((s) => s.name === 'process-image')
    expect(request).toBeDefined()
    expect(job).toBeDefined()
    // The request continues the caller's trace; the job continues the request's.
    expect(request!.spanContext().traceId).toBe(callerTrace)
    expect(request!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7')
    expect(request!.attributes['http.response.status_code']).toBe(202)
    expect(job!.spanContext().traceId).toBe(request!.spanContext().traceId)
    expect(ancestors(job!, spans)).toContain(request!.spanContext().spanId)
    expect(job!.attributes['pixelflow.image_id']).toBe(image.id)
    expect(job!.attributes['pixelflow.attempt']).toBe(1)
    // The pipeline's steps are children of the job.
    const children = spans.filter((s) => s.parentSpanContext?.spanId === job!.spanContext().spanId)
    expect(children.map((s) => s.name)).toContain('decode')
    expect(children.map((s) => s.name)).toContain('encode')
  })
})

/** The span ids above `span`, nearest first, as far as the finished spans reach. */
function ancestors(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]))
  const found: string[] = []
  let parent = span.parentSpanContext?.spanId
  while (parent && !found.includes(parent)) {
    found.push(parent)
    parent = byId.get(parent)?.parentSpanContext?.spanId
  }
  return found
}
