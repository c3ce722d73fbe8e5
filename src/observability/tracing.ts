import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api'
import type { TracingConfig } from '../config/schema.js'

/**
 * OpenTelemetry tracing. The code everywhere else uses `@opentelemetry/api` only, which does
 * nothing until an SDK is registered: with no OTLP endpoint configured, tracing costs nothing and
 * the SDK is never loaded. With one, `startTracing` registers a NodeTracerProvider (the
 * AsyncLocalStorage context manager and the W3C Trace Context propagator come with it) that
 * batches spans to the endpoint over OTLP/HTTP.
 *
 * One trace follows an upload: the API's request span (its parent taken from an incoming
 * `traceparent`), carried in the job payload as `traceparent`, and the worker's `process-image`
 * span under it.
 */

export const TRACER_NAME = 'pixelflow'

export const tracer = () => trace.getTracer(TRACER_NAME)

/** Flushes the spans still buffered and unregisters the provider. */
export type StopTracing = () => Promise<void>

export async function startTracing(config: TracingConfig): Promise<StopTracing> {
  if (!config.endpoint) return async () => {}
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources, semconv] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/semantic-conventions'),
    ])
  const exporter = new OTLPTraceExporter({ url: tracesUrl(config.endpoint) })
  const provider = new NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: config.serviceName,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  })
  provider.register()
  return async () => {
    await provider.shutdown()
    trace.disable()
    context.disable()
    propagation.disable()
  }
}

/**
 * The endpoint is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is (traces go to
 * `/v1/traces` under it); a URL that already ends in `/v1/traces` is taken as it is.
 */
export function tracesUrl(endpoint: string): string {
  if (/\/v1\/traces\/?$/.test(endpoint)) return endpoint
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`
}

/** The W3C `traceparent` of the active context, to carry in a job; undefined when not tracing. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {}
  propagation.inject(context.active(), carrier)
  return carrier.traceparent
}

/** The context a `traceparent` (from a header or a job) names; the root context without one. */
export function contextFrom(headers: Record<string, unknown>): Context {
  return propagation.extract(ROOT_CONTEXT, headers, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => {
      const value = carrier[key]
      return typeof value === 'string' || Array.isArray(value) ? value : undefined
    },
  })
}

/** Ends a span with an error status when `error` is set. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    if (error instanceof Error) span.recordException(error)
    span.setStatus({ code: SpanStatusCode.ERROR })
  }
  span.end()
}

/** Runs `fn` in a child span of the active context, ending it (with any error) when it settles. */
export async function inSpan<T>(
  name: string,
  attributes: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      const result = await fn()
      endSpan(span)
      return result
    } catch (error) {
      endSpan(span, error)
      throw error
    }
  })
}
