import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth/authenticator.js'
import { hasScope, type Principal, type Scope } from '../auth/principal.js'
import { csrfTokenMatches, type SessionInfo, type Sessions } from '../auth/sessions.js'
import { AppError } from '../errors/index.js'
import { type HookDone, settleHook } from './callback-hook.js'

/** The dashboard's session cookie (routes/session): HttpOnly, so a page's script never reads it. */
export const SESSION_COOKIE = 'pf_session'

/** The session a request came with, and the cookie's token (sign-out closes it). */
export interface RequestSession extends SessionInfo {
  token: string
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    session: RequestSession | null
  }
  interface FastifyContextConfig {
    /** The scope a credential needs for this route; every /v1 route names one. */
    scope?: Scope
  }
}

/**
 * onRequest hook for /v1: a valid credential (401 otherwise) that carries the route's scope (403
 * otherwise). A failed attempt spends from the caller's IP limit, so keys cannot be guessed at speed.
 * The credential is the Authorization header or, without one, the session cookie when sessions
 * are given. A callback hook, not an async one: a credential the authenticator holds is admitted
 * in the same tick, without a promise; every other one, refusals too, takes the full path.
 */
export function authenticate(
  authenticator: Authenticator,
  onFailure: (request: FastifyRequest, reply: FastifyReply) => Promise<void>,
  sessions?: Sessions,
) {
  // Async, so that every refusal, this one's own too, reaches the catch below (the IP limit).
  const principalOfRequest = async (request: FastifyRequest): Promise<Principal> => {
    const { authorization } = request.headers
    const token = request.cookies?.[SESSION_COOKIE]
    if (!sessions || authorization || !token) return authenticator(authorization)
    if (sessionCookies(request) > 1)
      throw new AppError('UNAUTHENTICATED', 'More than one session cookie: sign in again')
    return sessionPrincipal(sessions, token, request)
  }
  const fullPath = async (request: FastifyRequest, reply: FastifyReply): Promise<Principal> =>
    principalOfRequest(request).catch(async (error: unknown) => {
      await onFailure(request, reply)
      throw error
    })
  return (request: FastifyRequest, reply: FastifyReply, done: HookDone): void => {
    // A header wins over a cookie (principalOfRequest): only a header can be held.
    const principal = authenticator.held?.(request.headers.authorization)
    if (principal) done(admit(request, principal))
    else
      settleHook(
        fullPath(request, reply).then((found) => admit(request, found)),
        done,
      )
  }
}

/** Sets the request's principal when it carries the route's scope; the refusal otherwise. */
function admit(request: FastifyRequest, principal: Principal): AppError | undefined {
  const scope = request.routeOptions.config.scope
  if (!scope) return new AppError('INTERNAL', `Route ${request.routeOptions.url} declares no scope`)
  if (!hasScope(principal, scope))
    return new AppError('INSUFFICIENT_SCOPE', `This request needs the ${scope} scope`)
  request.principal = principal
  return undefined
}

/**
 * How many pf_session cookies came. A page on a sibling subdomain can set one for the parent
 * domain, which the browser sends beside ours (first, when its path is longer): the parser keeps
 * the first, and the victim would act in the attacker's session. Two is refused, never guessed.
 */
function sessionCookies(request: FastifyRequest): number {
  return request.headers.cookie?.match(SESSION_COOKIE_NAMES)?.length ?? 0
}

const SESSION_COOKIE_NAMES = new RegExp(`(?:^|;)\\s*${SESSION_COOKIE}=`, 'g')

/** Methods that change nothing: the only ones a cookie alone may make (CSRF). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A cookie is sent with any request to this origin, a forged one from another site's page too
 * (SameSite=Strict stops most, not a sibling subdomain): a change also needs the session's CSRF
 * token in a header, which only a page of this origin can read (GET /v1/session) and send.
 */
async function sessionPrincipal(
  sessions: Sessions,
  token: string,
  request: FastifyRequest,
): Promise<Principal> {
  const session = await sessions.verify(token)
  if (!session) throw new AppError('UNAUTHENTICATED', 'The session has ended: sign in again')
  const header = request.headers['x-csrf-token']
  if (
    !SAFE_METHODS.has(request.method) &&
    !csrfTokenMatches(session.csrfToken, typeof header === 'string' ? header : undefined)
  )
    throw new AppError('CSRF_TOKEN_INVALID', 'This request needs the session’s x-csrf-token header')
  request.session = { ...session, token }
  return session.principal
}

/** The authenticated principal; only called on routes behind `authenticate`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED', 'An API key is required')
  return request.principal
}
