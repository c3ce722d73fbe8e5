import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Headers every response carries, and the stricter set for delivered image bytes: an image must
 * never be sniffed into HTML or run script, even if a hostile file got through (imgproxy and
 * Next.js send the same CSP on images). The one cookie Pixelflow sets is the dashboard's session,
 * from /v1/session; a cookie from anywhere else (a plugin's) is dropped.
 */
export function securityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'no-referrer')
  if (!request.url.startsWith('/v1/session')) reply.removeHeader('set-cookie')
  if (request.url.startsWith('/i/')) {
    reply.header('content-security-policy', "default-src 'none'; sandbox")
    reply.header('cross-origin-resource-policy', 'cross-origin')
  } else if (!request.url.startsWith('/docs')) {
    reply.header('x-frame-options', 'DENY')
  }
  if (DASHBOARD.test(request.url)) reply.header('content-security-policy', DASHBOARD_CSP)
}

const DASHBOARD = /^\/ui(?:[/?]|$)/

/**
 * The dashboard's page runs only its own bundled script and stylesheet (no inline script or
 * style, nothing from a CDN), talks only to this origin, and cannot be framed. img-src allows
 * data: and blob: for the placeholders it decodes in the page.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ')
