import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors/index.js'
import { problemOf, toAppError } from './problem.js'

/** Every error leaves as application/problem+json; unknown failures are logged with their cause. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw, request, reply) => {
    const { error, internal } = toAppError(raw)
    if (internal) request.log.error({ err: raw }, 'request failed')
    else request.log.info({ code: error.code, detail: error.message }, 'request refused')
    sendProblem(reply, request, error)
  })
  app.setNotFoundHandler((request, reply) => {
    sendProblem(
      reply,
      request,
      new AppError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url}`),
    )
  })
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  error: AppError,
): FastifyReply {
  if (error.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer')
  return reply
    .code(error.statusCode)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(problemOf(error, request.url, request.id))
}
