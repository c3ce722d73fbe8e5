import { JOB_FAILURE_CODES, SERVER_ERROR_CODES } from './error-codes.js'
import type { Image } from './types.js'

/** A stable code of the server's error catalogue (docs/errors.md), as `problem.code` carries it. */
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number]
/** How an accepted image can fail without any request failing (the queue gave up on it). */
export type JobFailureCode = (typeof JOB_FAILURE_CODES)[number]
/** Failures this client reports itself: no answer, a wait that ran out, an answer it cannot read. */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'UNEXPECTED_RESPONSE'
export type PixelflowErrorCode = ServerErrorCode | JobFailureCode | ClientErrorCode

export { JOB_FAILURE_CODES, SERVER_ERROR_CODES }

export interface PixelflowErrorInit {
  code: PixelflowErrorCode
  /** The HTTP status; 0 when no answer was involved (a network error, a timeout, a failed image). */
  status: number
  detail: string
  retryAfterSeconds?: number | undefined
  requestId?: string | undefined
  cause?: unknown
}

/** Every failure the client reports: an error answer of the server, or one of the client's own. */
export class PixelflowError extends Error {
  override readonly name: string = 'PixelflowError'
  readonly code: PixelflowErrorCode
  readonly status: number
  readonly detail: string
  /** From `Retry-After` (seconds or an HTTP date), when the server said how long to wait. */
  readonly retryAfterSeconds: number | undefined
  /** The server's request id (`x-request-id`), to quote when asking about this failure. */
  readonly requestId: string | undefined

  constructor(init: PixelflowErrorInit) {
    super(`${init.code}: ${init.detail}`, init.cause === undefined ? {} : { cause: init.cause })
    this.code = init.code
    this.status = init.status
    this.detail = init.detail
    this.retryAfterSeconds = init.retryAfterSeconds
    this.requestId = init.requestId
  }
}

/** `waitUntilReady` on an image that failed: `code` is its failure code, `image` its last state. */
export class ImageFailedError extends PixelflowError {
  override readonly name = 'ImageFailedError'
  readonly image: Image

  constructor(image: Image) {
    const failure = image.failure ?? { code: 'INTERNAL', detail: 'The image failed' }
    super({ code: failure.code as PixelflowErrorCode, status: 0, detail: failure.detail })
    this.image = image
  }
}

export function isPixelflowError(error: unknown): error is PixelflowError {
  return error instanceof PixelflowError
}

/** An answer of the server with an error status, as a PixelflowError (problem+json when it is one). */
export async function errorFromResponse(response: Response): Promise<PixelflowError> {
  const problem = await readProblem(response)
  const requestId = problem?.requestId ?? response.headers.get('x-request-id') ?? undefined
  return new PixelflowError({
    code: (problem?.code as ServerErrorCode | undefined) ?? 'UNEXPECTED_RESPONSE',
    status: response.status,
    detail: problem?.detail ?? `HTTP ${response.status} ${response.statusText}`.trim(),
    retryAfterSeconds: retryAfterSeconds(response.headers.get('retry-after')),
    requestId,
  })
}

interface ProblemBody {
  code?: string
  detail?: string
  requestId?: string
}

async function readProblem(response: Response): Promise<ProblemBody | null> {
  const type = response.headers.get('content-type') ?? ''
  if (!/json/i.test(type)) {
    await response.body?.cancel().catch(() => {})
    return null
  }
  try {
    const body = (await response.json()) as unknown
    return typeof body === 'object' && body !== null ? (body as ProblemBody) : null
  } catch {
    return null
  }
}

/**
 * `Retry-After` in seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3). A date in
 * the past means now (0); anything unreadable means the server said nothing.
 */
export function retryAfterSeconds(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text)
  // An HTTP date always names its day and GMT; Date.parse alone would take "-5" for a year.
  const date = /GMT$/i.test(text) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(date)) return undefined
  return Math.max(0, Math.ceil((date - now) / 1000))
}
