import type { components, paths } from './openapi.js'

/**
 * The client's types, all derived from the generated OpenAPI types (openapi.ts): when a route
 * schema changes on the server, `npm run client:types` changes these with it.
 */

/** The operation `method` of `path`, or never when the server has no such route. */
export type Operation<P extends string, M extends string> = P extends keyof paths
  ? M extends keyof paths[P]
    ? NonNullable<paths[P][M]>
    : never
  : never

type JsonOf<T> = T extends { content: { 'application/json': infer B } } ? B : never
type Success = 200 | 201 | 202

/** The JSON body of the successful answer(s) of an operation. */
export type ResponseOf<P extends string, M extends string> =
  Operation<P, M> extends { responses: infer R }
    ? { [S in keyof R]: S extends Success ? JsonOf<R[S]> : never }[keyof R]
    : never

/** The JSON request body of an operation. */
export type BodyOf<P extends string, M extends string> =
  Operation<P, M> extends { requestBody?: infer B } ? JsonOf<NonNullable<B>> : never

/** The query parameters of an operation. */
export type QueryOf<P extends string, M extends string> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never

/** A type the server does not describe (yet): a plain JSON object instead of never. */
type Described<T> = [T] extends [never] ? Record<string, unknown> : T

export type Image = ResponseOf<'/v1/images/{id}', 'get'>
export type ImagePage = ResponseOf<'/v1/images', 'get'>
export type Variant = Image['variants'][number]
export type ImageStatus = Image['status']
export type Visibility = Image['visibility']
export type OutputFormat = Variant['format']
export type Problem = components['schemas']['Problem']

export type Webhook = Described<ResponseOf<'/v1/webhooks/{id}', 'get'>>
export type WebhookCreated = Described<ResponseOf<'/v1/webhooks', 'post'>>
export type WebhookInput = Described<BodyOf<'/v1/webhooks', 'post'>>
export type WebhookList = Described<ResponseOf<'/v1/webhooks', 'get'>>
export type WebhookDeliveries = Described<ResponseOf<'/v1/webhooks/{id}/deliveries', 'get'>>
export type WebhookDeliveryRetry = Described<
  ResponseOf<'/v1/webhooks/{id}/deliveries/{deliveryId}/retry', 'post'>
>
export type DirectUpload = Described<ResponseOf<'/v1/uploads', 'post'>>
export type DirectUploadCompleted = Described<ResponseOf<'/v1/uploads/{id}/complete', 'post'>>
export type DirectUploadInput = Described<BodyOf<'/v1/uploads', 'post'>>
export type UploadToken = Described<ResponseOf<'/v1/upload-tokens', 'post'>>
export type UploadTokenInput = Described<BodyOf<'/v1/upload-tokens', 'post'>>

/** One event of the live stream (`GET /v1/events`): the SSE id and type, and its JSON data. */
export interface PixelflowEvent {
  /** What `Last-Event-ID` resumes after. */
  id: string
  /**
   * `image.ready`, `image.failed` or `image.deleted`; `reset` when the id resumed from was older
   * than the server keeps events (some may have been missed: re-read what you care about).
   */
  type: string
  /** When the change committed (ISO 8601). */
  occurredAt?: string
  data: ImageEventData
}

export interface ImageEventData {
  /** Absent on `reset`. */
  imageId?: string
  status?: string
  failure?: { code: string; detail: string }
  [field: string]: unknown
}
