import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { AppError } from '../../../errors/index.js'

export interface DashboardOptions {
  /** The built bundle (ui/dist): index.html and assets/ with hashed names. */
  root: string
}

/** Vite puts a content hash in every name under assets/: a changed file has a new URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
const hidden = { schema: { hide: true } }

/**
 * The web dashboard: GET /ui/assets/* (hashed, cached for a year) and index.html for every
 * other path under /ui/ (the page routes itself), always revalidated so a new build is seen at
 * once. Without a bundle (tests and installs that never built it) the API still starts and
 * /ui answers DASHBOARD_NOT_BUILT.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, { root }) => {
  app.get('/', hidden, async (_request, reply) => reply.redirect('/ui/'))
  app.get('/ui', hidden, async (_request, reply) => reply.redirect('/ui/'))
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/ui/*', hidden, async () => {
      throw new AppError(
        'DASHBOARD_NOT_BUILT',
        'This install has no dashboard bundle: run `npm run build` (the API works without it)',
      )
    })
    return
  }
  // serve: false: only reply.sendFile, so that the routes and their headers are ours.
  await app.register(fastifyStatic, { root, serve: false })
  app.get<{ Params: { file: string } }>('/ui/assets/:file', hidden, async (request, reply) =>
    send(reply.header('cache-control', IMMUTABLE), `assets/${request.params.file}`),
  )
  app.get('/ui/*', hidden, async (_request, reply) =>
    send(reply.header('cache-control', 'no-cache'), 'index.html'),
  )
}

/** @fastify/static answers a missing file with the app's 404 (ROUTE_NOT_FOUND problem). */
function send(reply: FastifyReply, path: string): FastifyReply {
  return reply.sendFile(path, { cacheControl: false, dotfiles: 'deny' })
}
