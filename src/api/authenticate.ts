import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth/authenticator.js'
import { hasScope, type Principal, type Scope } from '../auth/principal.js'
import { AppError } from '../errors/index.js'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyContextConfig {
    /** The scope a credential needs for this route; every /v1 route names one. */
    scope?: Scope
  }
}

/**
 * onRequest hook for /v1: a valid credential (401 otherwise) that carries the route's scope (403
 * otherwise). A failed attempt spends from the caller's IP limit, so keys cannot be guessed at speed.
 */
export function authenticate(
  authenticator: Authenticator,
  onFailure: (request: FastifyRequest, reply: FastifyReply) => Promise<void>,
) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const principal = await authenticator(request.headers.authorization).catch(
      async (error: unknown) => {
        await onFailure(request, reply)
        throw error
      },
    )
    const scope = request.routeOptions.config.scope
    if (!scope)
      throw new AppError('INTERNAL', `Route ${request.routeOptions.url} declares no scope`)
    if (!hasScope(principal, scope))
      throw new AppError('INSUFFICIENT_SCOPE', `This request needs the ${scope} scope`)
    request.principal = principal
  }
}

/** The authenticated principal; only called on routes behind `authenticate`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED', 'An API key is required')
  return request.principal
}
