import { ERROR_STATUS, type ErrorCode } from './codes.js'

/**
 * The one error class. `statusCode` and `code` are the two properties Fastify's own error
 * handler reads, so even an error that escapes our handler is answered correctly.
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  /** For a failure that passes by itself (an outage): the `Retry-After` the response carries. */
  readonly retryAfterSeconds?: number

  constructor(
    code: ErrorCode,
    message: string,
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.statusCode = ERROR_STATUS[code]
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}

/** A 4xx AppError is about the input, so retrying it cannot help (BullMQ's UnrecoverableError). */
export function isPermanent(error: unknown): boolean {
  return isAppError(error) && error.statusCode < 500
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`)
}
