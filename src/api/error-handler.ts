import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors/index.js'
import { redactUrl } from './log-redaction.js'
import { problemOf, toAppError } from './problem.js'

/** Every error leaves as application/problem+json; unknown failures are logged with their cause. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw, request, reply) => {
    if (clientIsGone(request)) {
      // An abort (or a connection cut by our own timeouts) is the client's doing, not a fault:
      // no stack trace at error level for any client to fill the log with, and no answer, since
      // nobody is there to read it. The upload it interrupted has already been undone.
      request.log.info({ reason: (raw as Error | null)?.message }, 'client aborted the request')
      reply.hijack()
      reply.raw.destroy()
      return
    }
    const { error, internal } = toAppError(raw)
    if (internal) request.log.error({ err: raw }, 'request failed')
    else request.log.info({ code: error.code, detail: error.message }, 'request refused')
    sendProblem(reply, request, error)
  })
  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      reply,
      request,
      new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${redactUrl(request.url)}`),
    )
  })
}

/** The connection is closed or the body was cut off before its end: nobody will read a reply. */
function clientIsGone(request: FastifyRequest): boolean {
  return request.raw.socket?.destroyed === true || request.raw.readableAborted
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  error: AppError,
): FastifyReply {
  if (error.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer')
  // An outage the client should wait out (STORAGE_UNAVAILABLE) says for how long.
  if (error.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(error.retryAfterSeconds))
  }
  return reply
    .code(error.statusCode)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(problemOf(error, request.url, request.id))
}
