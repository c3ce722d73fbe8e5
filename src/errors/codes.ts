/**
 * The error catalogue: every stable code the service can answer with, and its HTTP status.
 * docs/errors.md must list exactly these (checked by codes.test.ts).
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  EMPTY_UPLOAD: 400,
  MISSING_FILE_FIELD: 400,
  MULTIPART_MALFORMED: 400,
  UNAUTHENTICATED: 401,
  INSUFFICIENT_SCOPE: 403,
  CSRF_TOKEN_INVALID: 403,
  SIGNATURE_INVALID: 403,
  URL_EXPIRED: 403,
  QUOTA_EXCEEDED: 403,
  IMAGE_NOT_FOUND: 404,
  VARIANT_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  VARIANT_NOT_READY: 409,
  IMAGE_NOT_READY: 409,
  TRANSFORM_INVALID: 400,
  TRANSFORM_TOO_LARGE: 400,
  WEBHOOK_NOT_FOUND: 404,
  API_KEY_NOT_FOUND: 404,
  WEBHOOK_DELIVERY_NOT_FOUND: 404,
  WEBHOOK_LIMIT_EXCEEDED: 409,
  WEBHOOK_DELIVERY_NOT_DEAD: 409,
  URL_FORBIDDEN: 422,
  URL_FETCH_FAILED: 502,
  IDEMPOTENCY_KEY_INVALID: 400,
  IDEMPOTENCY_KEY_MISMATCH: 422,
  URL_FETCH_STATUS: 422,
  EVENT_ID_INVALID: 400,
  UPLOAD_TOO_LARGE: 413,
  MULTIPART_LIMIT_EXCEEDED: 413,
  RANGE_NOT_SATISFIABLE: 416,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CONTENT_TYPE_MISMATCH: 415,
  IMAGE_TRUNCATED: 422,
  IMAGE_UNDECODABLE: 422,
  IMAGE_TOO_MANY_PIXELS: 422,
  IMAGE_TOO_MANY_FRAMES: 422,
  IMAGE_UNENCODABLE: 422,
  UPLOAD_NOT_FOUND: 404,
  UPLOAD_TOKEN_EXHAUSTED: 403,
  UPLOAD_OBJECT_MISSING: 409,
  UPLOAD_SIZE_MISMATCH: 422,
  UPLOAD_EXPIRED: 410,
  DIRECT_UPLOAD_UNAVAILABLE: 501,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  INTERNAL: 500,
  RATE_LIMITER_UNAVAILABLE: 503,
  SHARD_UNAVAILABLE: 503,
  STORAGE_UNAVAILABLE: 503,
  BUCKET_MOVING: 503,
  SHUTTING_DOWN: 503,
  TRANSFORM_BUSY: 503,
  DASHBOARD_NOT_BUILT: 503,
} as const satisfies Record<string, number>

export type ErrorCode = keyof typeof ERROR_STATUS

/** Codes a worker treats as permanent: retrying the same bytes can never succeed. */
export const PERMANENT_IMAGE_CODES = [
  'UNSUPPORTED_MEDIA_TYPE',
  'IMAGE_TRUNCATED',
  'IMAGE_UNDECODABLE',
  'IMAGE_TOO_MANY_PIXELS',
  'IMAGE_TOO_MANY_FRAMES',
  'IMAGE_UNENCODABLE',
] as const satisfies readonly ErrorCode[]

/**
 * Failure codes an accepted image can end with that are not HTTP errors (no request failed): the
 * queue or the reconciler gave up on its job. docs/errors.md lists them under "Failure reasons".
 */
export const JOB_FAILURE_CODES = [
  // Every attempt failed with a recorded error.
  'RETRIES_EXHAUSTED',
  // Deliveries ended without a result or a recorded error: the job killed its worker each time.
  'PROCESSING_CRASHED',
  // Queued or processing far past the time limit with nothing moving it, requeued without effect.
  'PROCESSING_STUCK',
] as const

export type JobFailureCode = (typeof JOB_FAILURE_CODES)[number]
