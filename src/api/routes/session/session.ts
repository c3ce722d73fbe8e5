import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { SCOPES } from '../../../auth/principal.js'
import type { Sessions } from '../../../auth/sessions.js'
import { AppError } from '../../../errors/index.js'
import { principalOf, SESSION_COOKIE } from '../../authenticate.js'
import { problems } from '../../schemas.js'

export interface SessionRoutesOptions {
  sessions: Sessions
}

const SessionView = Type.Object({
  ownerId: Type.String(),
  scopes: Type.Array(Type.Union(SCOPES.map((scope) => Type.Literal(scope)))),
  expiresAt: Type.String({ format: 'date-time' }),
  csrfToken: Type.String({
    description: 'Send it as x-csrf-token on every POST, PATCH and DELETE',
  }),
})

/** Where the cookie goes: only the API's routes need it, never /i/ or /t/ (shared caches). */
const COOKIE_PATH = '/v1'

/**
 * The dashboard's sign-in: POST exchanges the Authorization header's API key or JWT for a session
 * cookie at once, so the page never keeps the credential; GET gives a reloaded page its CSRF token
 * back; DELETE signs out on the server. A cookie session also needs `x-csrf-token` on changes.
 */
export const sessionRoutes: FastifyPluginAsyncTypebox<SessionRoutesOptions> = async (
  app,
  { sessions },
) => {
  app.post(
    '/session',
    {
      schema: {
        summary: 'Exchange the bearer credential for a session cookie (the dashboard signs in)',
        tags: ['session'],
        response: { 201: SessionView, ...problems(401, 403) },
      },
      config: { scope: 'images:read', rateClass: 'read' },
    },
    async (request, reply) => {
      // A session opens from a credential the person typed, never from another session.
      if (request.session)
        throw new AppError('UNAUTHENTICATED', 'Sign in with Authorization: Bearer <credential>')
      const principal = principalOf(request)
      const opened = await sessions.open(principal)
      reply.setCookie(SESSION_COOKIE, opened.token, {
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
        path: COOKIE_PATH,
        expires: new Date(opened.expiresAt),
      })
      return noStore(reply)
        .code(201)
        .send({
          ownerId: principal.ownerId,
          scopes: [...principal.scopes],
          expiresAt: new Date(opened.expiresAt).toISOString(),
          csrfToken: opened.csrfToken,
        })
    },
  )

  app.get(
    '/session',
    {
      schema: {
        summary: 'The signed-in session (a reloaded page reads its CSRF token here)',
        tags: ['session'],
        response: { 200: SessionView, ...problems(401) },
      },
      config: { scope: 'images:read', rateClass: 'read' },
    },
    async (request, reply) => {
      const session = request.session
      if (!session) throw new AppError('UNAUTHENTICATED', 'No session: sign in first')
      return noStore(reply).send({
        ownerId: session.principal.ownerId,
        scopes: [...session.principal.scopes],
        expiresAt: new Date(session.expiresAt).toISOString(),
        csrfToken: session.csrfToken,
      })
    },
  )

  app.delete(
    '/session',
    {
      schema: {
        summary: 'Sign out: the session ends on the server, in every process',
        tags: ['session'],
        response: { 204: Type.Null(), ...problems(401, 403) },
      },
      config: { scope: 'images:read', rateClass: 'read' },
    },
    async (request, reply) => {
      const session = request.session
      if (!session) throw new AppError('UNAUTHENTICATED', 'No session: sign in first')
      await sessions.close(session.token)
      reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH, secure: true, sameSite: 'strict' })
      return noStore(reply).code(204).send()
    },
  )
}

/** The body holds the CSRF token: no cache may keep it. */
function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store')
}
