import { STATUS_CODES } from 'node:http'
import { AppError, type ErrorCode, isAppError } from '../errors/index.js'

/** RFC 9457 problem details, plus our stable `code`. The status line always equals `status`. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: ErrorCode
  instance?: string
  requestId?: string
}

/** Fastify's and its plugins' own errors carry a statusCode; map them onto the catalogue. */
const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST',
  404: 'ROUTE_NOT_FOUND',
  413: 'UPLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
}

export function toAppError(error: unknown): { error: AppError; internal: boolean } {
  if (isAppError(error)) return { error, internal: error.statusCode >= 500 }
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = error instanceof Error ? error.message : 'Bad request'
    return {
      error: new AppError(BY_STATUS[status] ?? 'BAD_REQUEST', message, { cause: error }),
      internal: false,
    }
  }
  return {
    error: new AppError('INTERNAL', 'An internal error occurred', { cause: error }),
    internal: true,
  }
}

export function problemOf(error: AppError, instance?: string, requestId?: string): Problem {
  return {
    type: `urn:pixelflow:error:${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: STATUS_CODES[error.statusCode] ?? 'Error',
    status: error.statusCode,
    // A 5xx never shows its internals: the cause goes to the log, not to the client.
    detail:
      error.statusCode >= 500 && error.code === 'INTERNAL'
        ? 'An internal error occurred'
        : error.message,
    code: error.code,
    ...(instance ? { instance } : {}),
    ...(requestId ? { requestId } : {}),
  }
}
