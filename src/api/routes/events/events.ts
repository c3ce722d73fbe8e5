import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { EventStream } from '../../../events/event-streams.js'
import type { StoredEvent } from '../../../metadata/shard-events.js'
import { principalOf } from '../../authenticate.js'
import { problems } from '../../schemas.js'
import { eventFrame, heartbeatFrame, idFrame, retryFrame, send } from './sse.js'

export interface EventRoutesOptions {
  events: { open(ownerId: string, lastEventId?: string): Promise<EventStream> }
  /** A comment this often keeps proxies and load balancers from closing a quiet stream. */
  heartbeatMs: number
  /** The reconnection delay the stream suggests to EventSource clients. */
  retryMs?: number
}

const Query = Type.Object({
  lastEventId: Type.Optional(
    Type.String({
      maxLength: 4096,
      description: 'Resume after this event id, for clients that cannot send `Last-Event-ID`',
    }),
  ),
})

const Headers = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      maxLength: 4096,
      description: 'Resume after this event id (EventSource sends it)',
    }),
  ),
})

const description = `Server-sent events about the caller's own images: \`image.ready\`, \`image.failed\`,
\`image.deleted\`. Each message has an \`id:\` (an opaque position: send it back as
\`Last-Event-ID\` or \`?lastEventId=\` to resume after it, without a gap or a repeat), an \`event:\`
(the type) and a \`data:\` line of JSON \`{id, type, occurredAt, data}\`. The stream opens with a
\`retry:\` hint and an id-only message (the position to resume from even if no event comes); a
\`: heartbeat\` comment follows every 15 s. \`event: reset\` means the id resumed from was older than
the retention: re-read the images you care about. See docs/clients.md.`

const schema = {
  summary: 'Live status of your images (server-sent events)',
  description,
  tags: ['events'],
  querystring: Query,
  headers: Headers,
  produces: ['text/event-stream'],
  response: {
    200: {
      description: 'A text/event-stream that stays open',
      content: { 'text/event-stream': { schema: Type.String() } },
    },
    ...problems(400),
  },
}

/** What `data:` carries: the event without the owner (always the caller). */
function eventView(event: StoredEvent) {
  return {
    id: event.id,
    type: event.type,
    occurredAt: new Date(event.occurredAt).toISOString(),
    data: event.data,
  }
}

/** Headers set before the hijack (CORS, rate limit) are kept: the hijacked reply skips onSend. */
function keptHeaders(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const kept = { ...headers }
  delete kept['content-length']
  delete kept['content-type']
  return kept
}

/**
 * GET /v1/events. Streams run until the client leaves or the server closes: a `preClose` hook
 * ends every stream, so `app.close()` is never held up by them (the client reconnects elsewhere
 * with its Last-Event-ID).
 */
export const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (
  app,
  { events, heartbeatMs, retryMs = 3_000 },
) => {
  const streams = new Set<AbortController>()
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
    for (const controller of streams) controller.abort()
  })

  app.get(
    '/events',
    { schema, config: { scope: 'images:read', rateClass: 'read' } },
    async (request, reply) => {
      const ownerId = principalOf(request).ownerId
      const lastEventId = request.headers['last-event-id'] || request.query.lastEventId || undefined
      const stream = await events.open(ownerId, lastEventId)
      const controller = new AbortController()
      streams.add(controller)
      // Opened while the server began closing: end at once rather than hold the close up.
      if (closing) controller.abort()
      const raw = reply.raw
      reply.hijack()
      raw.writeHead(200, {
        ...keptHeaders(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // nginx would otherwise buffer the stream.
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
        'x-request-id': request.id,
      })
      // The server's idle timeout is for requests that stall; a quiet stream is not one.
      request.raw.socket?.setTimeout(0)
      raw.on('close', () => controller.abort())

      let sentId = stream.id
      let latestId = stream.id
      const heartbeat = setInterval(() => {
        const text = latestId === sentId ? heartbeatFrame : `: heartbeat\n${idFrame(latestId)}`
        sentId = latestId
        void send(raw, text)
      }, heartbeatMs)
      try {
        await send(raw, retryFrame(retryMs) + idFrame(stream.id))
        if (stream.expired)
          await send(
            raw,
            eventFrame('reset', stream.id, {
              reason: 'expired',
              detail: 'The event id is older than the retention; events may have been missed',
            }),
          )
        for await (const page of stream.pages(controller.signal)) {
          for (const entry of page.entries) {
            await send(raw, eventFrame(entry.event.type, entry.id, eventView(entry.event)))
            sentId = entry.id
          }
          latestId = page.id
        }
      } catch (error) {
        request.log.warn({ err: error }, 'event stream ended by an error')
      } finally {
        clearInterval(heartbeat)
        stream.release()
        streams.delete(controller)
        raw.end()
      }
    },
  )
}
