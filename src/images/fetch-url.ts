import type { Readable } from 'node:stream'
import { AppError } from '../errors/index.js'
import { EMPTY_ALLOW_LIST, guardedRequest, type OutboundAllowList } from '../lib/ssrf.js'

export interface UrlFetchConfig {
  /** Private, loopback and link-local targets the operator allows (PIXELFLOW_OUTBOUND_ALLOW). */
  allow: OutboundAllowList
  /** Covers resolving, connecting, redirects and reading the whole image. */
  timeoutMs: number
}

/** Without configuration: public addresses only, 30 s (the config's defaults). */
export const NO_FETCH: UrlFetchConfig = { allow: EMPTY_ALLOW_LIST, timeoutMs: 30_000 }

/** Image hosts and CDNs redirect (http → https, a short link): a few hops, each checked again. */
const MAX_REDIRECTS = 3

/**
 * The guard's own byte ceiling sits this far above the upload limit: the upload inspector refuses
 * an oversized image first, with UPLOAD_TOO_LARGE like any other upload (the guard drops the
 * whole chunk that crosses its ceiling, so with the same number it would always speak first),
 * and the guard still stops the read within this margin whatever happens after that refusal.
 */
const CEILING_MARGIN = 1024 * 1024

/**
 * The body of a 2xx answer from `url`, through the SSRF guard: refused targets are
 * URL_FORBIDDEN, network failures and timeouts URL_FETCH_FAILED, any other status
 * URL_FETCH_STATUS, an image over the limit UPLOAD_TOO_LARGE.
 */
export async function fetchImage(
  url: string,
  config: UrlFetchConfig,
  maxBytes: number,
): Promise<Readable> {
  const response = await guardedRequest(url, {
    headers: { accept: 'image/*', 'user-agent': 'Pixelflow (upload from URL)' },
    timeoutMs: config.timeoutMs,
    maxResponseBytes: maxBytes + CEILING_MARGIN,
    allow: config.allow,
    maxRedirects: MAX_REDIRECTS,
  })
  if (Number(response.headers['content-length']) > maxBytes) {
    response.body.destroy()
    throw tooLarge(maxBytes)
  }
  if (response.status < 200 || response.status > 299) {
    response.body.destroy()
    throw new AppError(
      'URL_FETCH_STATUS',
      `The URL answered ${response.status}; only a 2xx answer's body is uploaded`,
    )
  }
  return response.body
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('UPLOAD_TOO_LARGE', `The image at the URL exceeds ${maxBytes} bytes`)
}
