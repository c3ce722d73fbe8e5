import { AppError } from '../errors/index.js'

/**
 * Translates a libvips/sharp failure while reading the source into a permanent, coded error.
 * The messages are libvips' own; the original stays as `cause` for the logs.
 */
const RULES: [RegExp, ConstructorParameters<typeof AppError>[0], string][] = [
  [/pixel limit/i, 'IMAGE_TOO_MANY_PIXELS', 'The image has more pixels than allowed'],
  [
    /unsupported image format|not a known file format/i,
    'UNSUPPORTED_MEDIA_TYPE',
    'The image format is not supported',
  ],
  [
    /premature end|truncated|unexpected end|not enough data|end of (file|stream)|read error/i,
    'IMAGE_TRUNCATED',
    'The image data is truncated',
  ],
]

/**
 * The source was a file (a local store's original) that is gone by the time libvips opened it:
 * the image was deleted meanwhile. Not a fault of the image, so never one of the coded errors.
 */
export function isMissingFile(input: Buffer | string, error: unknown): boolean {
  return typeof input === 'string' && /input file is missing/i.test(String(error))
}

/**
 * What a failed read of the source throws: the coded error of sourceError, except for a file that
 * is gone, whose raw error is left for the caller to answer (the image was deleted).
 */
export function sourceFailure(input: Buffer | string, error: unknown): unknown {
  return isMissingFile(input, error) ? error : sourceError(error)
}

export function sourceError(error: unknown): AppError {
  if (error instanceof AppError) return error
  const message = error instanceof Error ? error.message : String(error)
  for (const [pattern, code, text] of RULES) {
    if (pattern.test(message)) return new AppError(code, text, { cause: error })
  }
  return new AppError('IMAGE_UNDECODABLE', 'The image could not be decoded', { cause: error })
}

/**
 * libvips running out of memory or threads, or a cancelled pipeline: nothing about the image, so
 * the job is retried like any other transient failure.
 */
const TRANSIENT = /out of memory|cannot allocate|vips_malloc|unable to create thread|cancel/i

/**
 * Translates a failed encode. Variants are already sized inside the format's limits
 * (encode.ts), so what still fails is the same for these pixels every time: a permanent
 * `IMAGE_UNENCODABLE` with our message, never libvips' own (kept as `cause` for the logs).
 */
export function encodeError(error: unknown, format: string): Error {
  if (error instanceof AppError) return error
  const message = error instanceof Error ? error.message : String(error)
  if (TRANSIENT.test(message)) return error instanceof Error ? error : new Error(message)
  return new AppError('IMAGE_UNENCODABLE', `The image cannot be encoded as ${format}`, {
    cause: error,
  })
}
