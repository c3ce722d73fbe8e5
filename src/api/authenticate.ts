import type { FastifyRequest } from 'fastify'
import type { ApiKeys, Principal } from '../auth/api-keys.js'
import { AppError } from '../errors/index.js'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
}

/** onRequest hook for /v1: a valid `Authorization: Bearer <key>` or 401. */
export function authenticate(apiKeys: ApiKeys) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    const principal = match ? await apiKeys.verify(match[1]!) : null
    if (!principal) throw new AppError('UNAUTHENTICATED', match ? 'The API key is not valid' : 'An API key is required (Authorization: Bearer <key>)')
    request.principal = principal
  }
}

/** The authenticated principal; only called on routes behind `authenticate`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED', 'An API key is required')
  return request.principal
}
