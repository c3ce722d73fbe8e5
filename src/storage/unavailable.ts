import { AppError } from '../errors/index.js'

/** How long a client is told to wait after a storage failure: outages are rarely shorter. */
export const STORAGE_RETRY_AFTER_SECONDS = 5

/**
 * The store could not do what was asked (unreachable, timed out, out of space, I/O error): not the
 * request's fault, and likely to pass. Answered 503 with Retry-After; the worker retries the job.
 * The message is ours; the driver's error (endpoint, key, errno) stays in `cause` for the logs.
 */
export function storageUnavailable(operation: string, cause: unknown): AppError {
  return new AppError(
    'STORAGE_UNAVAILABLE',
    `The object store is unavailable (${operation} failed); retry later`,
    { cause, retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS },
  )
}
