import { randomUUID } from 'node:crypto'
import cookie from '@fastify/cookie'
import cors from '@fastify/cors'
import multipart from '@fastify/multipart'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { context, type Span, SpanKind, trace } from '@opentelemetry/api'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Principal } from '../auth/principal.js'
import { AppError } from '../errors/index.js'
import { contextFrom, endSpan, tracer } from '../observability/tracing.js'
import { uploaderOf } from '../uploads/uploader.js'
import { authenticate } from './authenticate.js'
import type { AppDeps } from './deps.js'
import { installErrorHandling } from './error-handler.js'
import { redactingLogger } from './log-redaction.js'
import { adminRoutes } from './routes/admin/admin-routes.js'
import { eraseOwnerRoute } from './routes/admin/erase-owner.js'
import { listAllImages } from './routes/admin/list-all-images.js'
import { getTransform } from './routes/delivery/get-transform.js'
import { getVariant } from './routes/delivery/get-variant.js'
import { eventRoutes } from './routes/events/events.js'
import { health } from './routes/health/health.js'
import { deleteImage } from './routes/images/delete-image.js'
import { getImage } from './routes/images/get-image.js'
import { listImages } from './routes/images/list-images.js'
import { updateImage } from './routes/images/update-image.js'
import { acceptRawImages, uploadImage } from './routes/images/upload-image.js'
import { sessionRoutes } from './routes/session/session.js'
import { dashboardRoutes } from './routes/ui/dashboard.js'
import { directUploadRoutes } from './routes/uploads/direct-uploads.js'
import { TUS_RESPONSE_HEADERS, tusRoutes } from './routes/uploads/tus.js'
import { uploadTokenRoutes } from './routes/uploads/upload-tokens.js'
import { webhookRoutes } from './routes/webhooks/webhooks.js'
import { ImageView, Problem } from './schemas.js'
import { securityHeaders } from './security-headers.js'
import { closeUnusedConnectionsOnShutdown } from './unused-connections.js'

export type { AppDeps } from './deps.js'

/** Builds the HTTP app from its dependencies. Never listens: tests use inject(), start/ listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Each route is a plugin given only the ports and use cases it calls.
  const { images, signer, store, links, metrics } = deps
  const { http } = deps
  const app = Fastify({
    loggerInstance: redactingLogger(deps.logger) as FastifyBaseLogger,
    genReqId: (request) => validRequestId(request.headers['x-request-id']) ?? randomUUID(),
    trustProxy: trustProxy(http.trustProxy),
    // Our own hook answers requests that arrive while closing, in the problem+json format.
    return503OnClosing: false,
    // A client that trickles or stalls must not hold a connection, an upload slot and a temp
    // file: the whole request, its head, and any silence on the socket are each bounded.
    requestTimeout: http.requestTimeoutMs,
    connectionTimeout: http.idleTimeoutMs,
    http: {
      headersTimeout: http.headersTimeoutMs,
      // Node checks those two timeouts on this interval (30 s by default): check often enough.
      connectionsCheckingInterval: Math.min(1_000, http.headersTimeoutMs),
    },
  })
  app.decorateRequest('principal', null)
  app.decorateRequest('session', null)
  refuseWhileClosing(app)
  closeUnusedConnectionsOnShutdown(app)
  countRequests(app, metrics)
  traceRequests(app)
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    securityHeaders(request, reply)
  })
  installErrorHandling(app)
  app.addSchema(ImageView)
  app.addSchema(Problem)
  await app.register(cors, {
    origin: corsOrigin(http.corsOrigins),
    // PATCH: tus uploads (/v1/tus/:id).
    methods: ['GET', 'HEAD', 'POST', 'DELETE', 'PATCH'],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  })
  await app.register(swagger, {
    openapi: OPENAPI,
    // Shared schemas keep their $id as their name (Image, Problem) instead of def-0, def-1: the
    // names generated clients (packages/client/src/openapi.ts) show.
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  })
  // Probes stay unlimited (their answer is cached); /metrics only where the config allows it.
  await app.register(health, {
    readiness: deps.readiness,
    metrics,
    metricsAccess: deps.metricsAccess,
  })
  await app.register(async (anonymous) => {
    anonymous.addHook('onRequest', deps.rateLimits.perIp)
    await anonymous.register(swaggerUi, { routePrefix: '/docs' })
    anonymous.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
    if (deps.dashboard) await anonymous.register(dashboardRoutes, deps.dashboard)
    const transforms = deps.transforms
    await anonymous.register(getVariant, { images, signer, store, transforms: transforms?.service })
    if (transforms)
      await anonymous.register(getTransform, {
        images,
        signer,
        transformSigner: transforms.signer,
        transforms: transforms.service,
        unsignedPresets: transforms.unsignedPresets,
      })
  })
  await app.register(
    async (v1) => {
      await v1.register(multipart)
      // On all of /v1, like multipart, not only in the upload plugin: a body on another /v1 route
      // (a DELETE with an image body) stays accepted instead of becoming a 415.
      acceptRawImages(v1)
      // Cookies are read on /v1 only, and only for the dashboard's session (routes/session).
      if (deps.sessions) await v1.register(cookie)
      v1.addHook('onRequest', authenticate(deps.authenticate, deps.rateLimits.perIp, deps.sessions))
      v1.addHook('onRequest', deps.rateLimits.perOwner)
      const { maxUploadBytes } = deps.limits
      await v1.register(uploadImage, {
        images,
        metrics,
        links,
        maxUploadBytes,
        ...uploadTokenBounds(deps),
      })
      await v1.register(getImage, { images, links })
      await v1.register(updateImage, { images, links })
      await v1.register(listImages, { images, links })
      await v1.register(deleteImage, { images })
      await v1.register(listAllImages, { images, links })
      if (deps.eraseOwner)
        await v1.register(eraseOwnerRoute, { erase: deps.eraseOwner, audit: deps.admin?.audit })
      if (deps.admin) await v1.register(adminRoutes, { ...deps.admin, metrics })
      if (deps.webhooks) await v1.register(webhookRoutes, { webhooks: deps.webhooks })
      if (deps.events) await v1.register(eventRoutes, deps.events)
      if (deps.uploads) await registerUploads(v1, deps.uploads, deps)
      if (deps.sessions) await v1.register(sessionRoutes, { sessions: deps.sessions })
    },
    { prefix: '/v1' },
  )
  return app
}

/** POST /v1/images with an upload token: within the token's bounds, one of its uses each. */
function uploadTokenBounds(deps: AppDeps) {
  const uploads = deps.uploads
  if (!uploads) return {}
  return {
    uploaderOf: (principal: Principal) =>
      uploaderOf(principal, deps.limits.maxUploadBytes, uploads.tokens),
    refund: (tokenId: string) => uploads.tokens.refund(tokenId),
  }
}

/** tus, direct-to-S3 uploads and upload tokens; an upload token uploads within its bounds. */
async function registerUploads(
  v1: FastifyInstance,
  uploads: NonNullable<AppDeps['uploads']>,
  deps: AppDeps,
): Promise<void> {
  const uploader = (principal: Principal) =>
    uploaderOf(principal, deps.limits.maxUploadBytes, uploads.tokens)
  await v1.register(tusRoutes, { tus: uploads.tus, uploaderOf: uploader, links: deps.links })
  await v1.register(directUploadRoutes, {
    direct: uploads.direct,
    uploaderOf: uploader,
    links: deps.links,
  })
  await v1.register(uploadTokenRoutes, { tokens: uploads.tokens })
}

const OPENAPI = {
  info: {
    title: 'Pixelflow',
    version: '1',
    description: 'Image upload and processing: upload → 202 → variants → CDN-ready delivery',
  },
  components: {
    securitySchemes: {
      bearer: {
        type: 'http' as const,
        scheme: 'bearer',
        description: 'An API key (pf_…) or a JWT',
      },
    },
  },
  security: [{ bearer: [] }],
}

/** Headers a browser client may read across origins. */
const EXPOSED_HEADERS = [
  'location',
  'etag',
  'x-request-id',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'content-range',
  // POST /v1/images: a replayed Idempotency-Key, a duplicate of the owner's bytes.
  'idempotent-replayed',
  'pixelflow-deduplicated',
  ...TUS_RESPONSE_HEADERS,
]

/**
 * '*' allows any origin (safe: a cross-origin caller's credential is a bearer token; the session
 * cookie is SameSite=Strict and CORS never allows credentials); otherwise an exact list.
 */
function corsOrigin(origins: readonly string[]): string | string[] {
  return origins.includes('*') ? '*' : [...origins]
}

function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async () => {
    if (closing)
      throw new AppError('SHUTTING_DOWN', 'The server is shutting down; retry on another instance')
  })
}

/**
 * Request rate, errors and duration per route pattern (`/v1/images/:id`), never the raw URL: one
 * series per image would grow without end. Requests no route matched share `unmatched`.
 */
function countRequests(app: FastifyInstance, metrics: AppDeps['metrics']): void {
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched' }
    metrics.httpRequests.inc({ ...labels, status: String(reply.statusCode) })
    metrics.httpSeconds.observe(labels, reply.elapsedTime / 1000)
  })
}

/**
 * One server span per request, named by route pattern like the metrics, its parent the caller's
 * `traceparent` if any. The handler runs inside it, so what it starts (the upload's job) joins
 * the trace. Without a registered SDK every call here is a no-op.
 */
function traceRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>()
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const span = tracer().startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'http.route': route,
          'pixelflow.request_id': request.id,
        },
      },
      contextFrom(request.headers),
    )
    spans.set(request, span)
  })
  // A callback hook: everything after `done` (other hooks, then the handler) runs in the span.
  app.addHook('preHandler', (request, _reply, done) => {
    const span = spans.get(request)
    if (!span) return done()
    context.with(trace.setSpan(context.active(), span), done)
  })
  const end = (request: FastifyRequest, status?: number) => {
    const span = spans.get(request)
    if (!span) return
    spans.delete(request)
    if (status !== undefined) span.setAttribute('http.response.status_code', status)
    endSpan(
      span,
      status === undefined || status >= 500 ? new Error(`HTTP ${status ?? 'aborted'}`) : undefined,
    )
  }
  app.addHook('onResponse', async (request, reply) => end(request, reply.statusCode))
  app.addHook('onRequestAbort', async (request) => end(request))
}

/**
 * Fastify's trustProxy, from our config: false, the proxies' addresses/CIDRs, or a hop count as
 * the function Fastify itself makes of one (its types do not list the number form).
 */
function trustProxy(
  setting: AppDeps['http']['trustProxy'],
): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return setting === false ? false : [...setting]
  return (_address, hop) => hop < setting
}

/** A caller's request id is kept only when it is short and plain, so it cannot poison logs. */
function validRequestId(value: unknown): string | null {
  return typeof value === 'string' && /^[\w.:-]{1,128}$/.test(value) ? value : null
}
