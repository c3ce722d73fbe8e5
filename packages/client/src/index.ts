/** @pixelflow/client: the typed client for Pixelflow's HTTP API, for Node and browsers. */
export {
  type ClientOptions,
  createClient,
  type ListOptions,
  type PixelflowClient,
  type RequestOptions,
  type UploadOptions,
  type UrlUploadOptions,
} from './client.js'
export {
  type ClientErrorCode,
  errorFromResponse,
  ImageFailedError,
  isPixelflowError,
  JOB_FAILURE_CODES,
  type JobFailureCode,
  PixelflowError,
  type PixelflowErrorCode,
  SERVER_ERROR_CODES,
  type ServerErrorCode,
} from './errors.js'
export type { EventsOptions } from './events.js'
export type { components, paths } from './openapi.js'
export { readSse, type SseMessage, SseParser } from './sse.js'
export type * from './types.js'
export { contentTypeOf, type Progress, type UploadSource } from './upload-body.js'
export type { WaitOptions } from './wait.js'

export const CLIENT_VERSION = '0.1.0'
