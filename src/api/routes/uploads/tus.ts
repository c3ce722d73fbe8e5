import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Principal } from '../../../auth/principal.js'
import { AppError } from '../../../errors/index.js'
import type { TusPresenter, TusUploads } from '../../../uploads/tus.js'
import type { Uploader } from '../../../uploads/types.js'
import { principalOf } from '../../authenticate.js'
import { problemOf } from '../../problem.js'
import { securityHeaders } from '../../security-headers.js'
import { imageView, type Links } from '../../views.js'

export interface TusRouteOptions {
  tus: TusUploads
  uploaderOf: (principal: Principal) => Uploader
  links: Links
}

/** The tus request headers a browser may send, and the response headers it may read. */
export const TUS_REQUEST_HEADERS = [
  'tus-resumable',
  'upload-length',
  'upload-offset',
  'upload-metadata',
  'upload-defer-length',
  'upload-concat',
]
export const TUS_RESPONSE_HEADERS = [
  'tus-resumable',
  'tus-version',
  'tus-max-size',
  'tus-extension',
  'upload-offset',
  'upload-length',
  'upload-expires',
  'upload-metadata',
  'pixelflow-image-id',
]

/**
 * /v1/tus: resumable uploads (tus 1.0). Each request is authenticated and rate limited by /v1's
 * hooks like any other route, then handed to @tus/server with the raw request and response (its
 * documented integration: the body is never parsed by Fastify). An upload exists only for its
 * creator: another owner's HEAD, PATCH or DELETE is 404, as for an upload that does not exist.
 * Creation counts as an upload (the upload rate and slots); each chunk as an API request.
 */
export const tusRoutes: FastifyPluginAsync<TusRouteOptions> = async (app, options) => {
  const { tus, uploaderOf, links } = options
  // The PATCH (and creation-with-upload) body stays unread for @tus/server to stream.
  app.addContentTypeParser('application/offset+octet-stream', (_request, _payload, done) =>
    done(null),
  )

  async function serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const principal = principalOf(request)
    const id = (request.params as { id?: string }).id
    if (id !== undefined && (await tus.ownerOf(id)) !== principal.ownerId)
      throw new AppError('UPLOAD_NOT_FOUND', `No upload ${id}`)
    const header = request.headers['idempotency-key']
    reply.hijack()
    // What the hooks so far set (CORS, rate-limit headers), and what onSend would have added,
    // goes out with tus's own answer: a hijacked reply skips the onSend hooks.
    reply.header('x-request-id', request.id).header('cache-control', 'no-store')
    securityHeaders(request, reply)
    for (const [name, value] of Object.entries(reply.getHeaders()))
      if (value !== undefined) reply.raw.setHeader(name, value)
    await tus.handle(
      {
        uploader: uploaderOf(principal),
        idempotencyKey: typeof header === 'string' ? header : undefined,
        present: presenter(request, reply, links),
      },
      request.raw,
      reply.raw,
    )
  }

  const hide = { hide: true }
  app.post('/tus', { schema: hide, config: { scope: 'images:upload', rateClass: 'upload' } }, serve)
  app.route({
    method: ['HEAD', 'PATCH', 'DELETE'],
    url: '/tus/:id',
    schema: hide,
    config: { scope: 'images:upload', rateClass: 'read' },
    handler: serve,
  })
}

/** The finished upload answers with the image, as POST /v1/images would; refusals in our format. */
function presenter(request: FastifyRequest, reply: FastifyReply, links: Links): TusPresenter {
  return {
    image({ image }) {
      return {
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Pixelflow-Image-Id': image.id,
        },
        body: JSON.stringify(imageView(image, links)),
      }
    },
    error(error) {
      request.log.info({ code: error.code, detail: error.message }, 'tus request refused')
      reply.raw.setHeader('content-type', 'application/problem+json; charset=utf-8')
      return {
        status_code: error.statusCode,
        body: JSON.stringify(problemOf(error, request.url, request.id)),
      }
    },
  }
}
