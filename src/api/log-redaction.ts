import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

/** Query parameters that carry a credential: a URL signature, tokens, keys. */
const SECRET_PARAMS =
  /([?&](?:sig|signature|token|access_token|id_token|refresh_token|key|api_key|apikey|password|secret|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#]*/gi

export const REDACTED = '[REDACTED]'

/** The URL with every credential-bearing query value replaced, for logs and error details. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, `$1${REDACTED}`)
}

/**
 * The request logger: Fastify logs each request's URL (a signed private URL carries its
 * signature) and our own lines may carry headers; neither may put a credential in the log.
 */
export function redactingLogger(logger: Logger): Logger {
  return logger.child(
    {},
    {
      serializers: {
        req: (request: FastifyRequest) => ({
          method: request.method,
          url: redactUrl(request.url),
          host: request.host,
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        }),
      },
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          'req.headers.authorization',
          'headers.cookie',
          'req.headers.cookie',
          'headers["x-api-key"]',
          'req.headers["x-api-key"]',
        ],
        censor: REDACTED,
      },
    },
  )
}
