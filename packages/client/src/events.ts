import { anySignal, backoffMs, sleep } from './backoff.js'
import { PixelflowError } from './errors.js'
import { readSse, SseParser } from './sse.js'
import type { Transport } from './transport.js'
import type { ImageEventData, PixelflowEvent } from './types.js'

export interface EventsOptions {
  /** Resume after this event id (what the last event's `id` was). */
  lastEventId?: string | undefined
  signal?: AbortSignal | undefined
}

/** A connection was (re)established, or an event arrived on it. */
export type StreamItem = { kind: 'open' } | { kind: 'event'; event: PixelflowEvent }

/** The server's default before a reconnect, until it sends `retry:`. */
const DEFAULT_RECONNECT_MS = 1_000

/**
 * `GET /v1/events` over fetch, reconnecting when the connection ends or breaks, each time with
 * `Last-Event-ID` so the server resumes after the last event seen. The first connection's failure
 * ends the stream with its error (there may be no stream at all: the caller can fall back); once
 * a stream has opened, an outage (no answer, 503) is waited out as EventSource does, until the
 * signal aborts, while any other refusal ends the stream.
 */
export async function* connect(
  transport: Transport,
  options: EventsOptions,
): AsyncGenerator<StreamItem> {
  let lastEventId = options.lastEventId
  let reconnectMs = DEFAULT_RECONNECT_MS
  let opened = false
  for (let outage = 0; ; ) {
    const connection = anySignal([options.signal])
    const parser = new SseParser(lastEventId)
    try {
      const body = await open(transport, lastEventId, connection.signal).catch((error) => {
        if (!opened || !transient(error)) throw error
        return null
      })
      if (body) {
        opened = true
        outage = 0
        yield { kind: 'open' }
        for await (const message of readSse(body, parser)) {
          if (message.retry !== undefined) reconnectMs = message.retry
          const event = message.data ? eventOf(message.event, message.data, message.id) : null
          if (event) yield { kind: 'event', event }
        }
      } else outage++
    } catch (error) {
      // The connection broke mid-stream: reconnect below, unless the caller stopped.
      if (options.signal?.aborted) throw options.signal.reason
      if (!opened || (error instanceof PixelflowError && !transient(error))) throw error
    } finally {
      // Id-only messages and heartbeats move the position too, without yielding anything.
      lastEventId = parser.lastEventId
      connection.abort()
      connection.dispose()
    }
    await sleep(outage === 0 ? reconnectMs : backoffMs(outage, reconnectMs, 30_000), options.signal)
  }
}

/** Opens the stream: its body, or a PixelflowError (after the transport's own retries). */
async function open(
  transport: Transport,
  lastEventId: string | undefined,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const response = await transport.request({
    method: 'GET',
    path: '/v1/events',
    headers: { accept: 'text/event-stream', 'last-event-id': lastEventId },
    signal,
  })
  const type = response.headers.get('content-type') ?? ''
  if (/^text\/event-stream/i.test(type) && response.body) return response.body
  await response.body?.cancel()
  throw new PixelflowError({
    code: 'UNEXPECTED_RESPONSE',
    status: response.status,
    detail: 'GET /v1/events did not answer with an event stream',
  })
}

/** A failure a later attempt may not meet: no answer, or a server asking to come back later. */
function transient(error: unknown): boolean {
  if (!(error instanceof PixelflowError)) return false
  return error.code === 'NETWORK_ERROR' || error.status === 503 || error.status === 429
}

/** Only the events, for callers of `client.events()`. */
export async function* events(
  transport: Transport,
  options: EventsOptions,
): AsyncGenerator<PixelflowEvent> {
  for await (const item of connect(transport, options)) if (item.kind === 'event') yield item.event
}

/**
 * One event from its SSE fields. The data is JSON: the image event's data, or the whole event
 * with its data inside; both are read. Anything else is skipped rather than ending the stream.
 */
function eventOf(type: string, data: string, id: string | undefined): PixelflowEvent | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const inner = (parsed as { data?: unknown }).data
  const body = (typeof inner === 'object' && inner !== null ? inner : parsed) as ImageEventData
  const { type: named, occurredAt } = parsed as { type?: unknown; occurredAt?: unknown }
  return {
    id: id ?? '',
    type: type !== 'message' ? type : typeof named === 'string' ? named : type,
    ...(typeof occurredAt === 'string' ? { occurredAt } : {}),
    data: body,
  }
}
