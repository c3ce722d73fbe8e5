import { PixelflowError } from './errors.js'
import { type EventsOptions, events } from './events.js'
import { createTransport, type Transport, type TransportSettings } from './transport.js'
import type {
  DirectUpload,
  DirectUploadCompleted,
  DirectUploadInput,
  Image,
  ImagePage,
  OutputFormat,
  PixelflowEvent,
  UploadToken,
  UploadTokenInput,
  Visibility,
  Webhook,
  WebhookCreated,
  WebhookDeliveries,
  WebhookDeliveryRetry,
  WebhookInput,
  WebhookList,
} from './types.js'
import { directUpload, newKey, type UploadOptions, upload } from './upload.js'

export type { UploadOptions }

import type { UploadSource } from './upload-body.js'
import { type WaitOptions, waitUntilReady } from './wait.js'

export interface ClientOptions {
  /** Where the API is, e.g. `https://images.example.com` (no /v1). */
  baseUrl: string
  /** An API key (`pf_…`) or a JWT. */
  apiKey?: string
  /** A short-lived upload token minted by your backend (`uploadTokens.create`), for browsers. */
  token?: string
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch
  /** Retries after the first attempt on 429, 503 and network errors (default 4). */
  retries?: number
  /** A `Retry-After` longer than this (default 60 s) is not waited for. */
  maxRetryDelayMs?: number
  /** Sent as User-Agent outside browsers (default `pixelflow-client/<version>`). */
  userAgent?: string
  /**
   * Headers added to every request, read afresh each time: a same-origin page signed in with a
   * session cookie sends its `x-csrf-token` this way (the cookie goes with it on its own).
   */
  headers?: Record<string, string> | (() => Record<string, string>)
}

export interface UrlUploadOptions {
  visibility?: Visibility
  idempotencyKey?: string
  signal?: AbortSignal
}

export interface RequestOptions {
  signal?: AbortSignal
}

export interface ListOptions extends RequestOptions {
  /** 1–100, default 20. */
  limit?: number
  cursor?: string
}

export interface PixelflowClient {
  /** `POST /v1/images` with the raw bytes: the accepted image (status `queued`). */
  upload(source: UploadSource, options?: UploadOptions): Promise<Image>
  /** `POST /v1/images` with `{ url }`: the server fetches the image. */
  uploadFromUrl(url: string, options?: UrlUploadOptions): Promise<Image>
  images: {
    get(id: string, options?: RequestOptions): Promise<Image>
    list(options?: ListOptions): Promise<ImagePage>
    /** Every image of the caller, newest first, page after page. */
    iterate(options?: Omit<ListOptions, 'cursor'>): AsyncGenerator<Image>
    delete(id: string, options?: RequestOptions): Promise<void>
    /** `PATCH /v1/images/:id`: where cover crops keep the subject (fractions 0–1; null clears). */
    setFocalPoint(
      id: string,
      point: { x: number; y: number } | null,
      options?: RequestOptions,
    ): Promise<Image>
    /** The URL of a variant (signed when the image is private, as the image view gives it). */
    variantUrl(image: Image | string, preset: string, format?: OutputFormat): string
  }
  /** Resolves when the image is ready; rejects with ImageFailedError when it failed. */
  waitUntilReady(id: string, options?: WaitOptions): Promise<Image>
  /** The caller's live events, resuming after `lastEventId`; reconnects on its own. */
  events(options?: EventsOptions): AsyncGenerator<PixelflowEvent>
  webhooks: {
    create(input: WebhookInput, options?: RequestOptions): Promise<WebhookCreated>
    list(options?: RequestOptions): Promise<WebhookList>
    get(id: string, options?: RequestOptions): Promise<Webhook>
    delete(id: string, options?: RequestOptions): Promise<void>
    /** The latest deliveries to this endpoint, dead letters included. */
    deliveries(
      id: string,
      options?: RequestOptions & { limit?: number },
    ): Promise<WebhookDeliveries>
    /** Sends a delivery again (a dead letter, say) now. */
    retry(id: string, deliveryId: string, options?: RequestOptions): Promise<WebhookDeliveryRetry>
  }
  /** Direct-to-S3 uploads: a presigned request to send the bytes to, then `complete`. */
  uploads: {
    create(input: DirectUploadInput, options?: RequestOptions): Promise<DirectUpload>
    complete(id: string, options?: RequestOptions): Promise<DirectUploadCompleted>
    /** create, the PUT of the bytes to storage (with progress), then complete: the image. */
    send(source: UploadSource, options?: UploadOptions): Promise<DirectUploadCompleted>
  }
  uploadTokens: {
    create(input: UploadTokenInput, options?: RequestOptions): Promise<UploadToken>
  }
}

const EXTENSIONS: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' }
const enc = encodeURIComponent

export function createClient(options: ClientOptions): PixelflowClient {
  const transport = createTransport(options satisfies TransportSettings)
  // Presigned storage URLs are absolute and carry their own signature: no credential goes there,
  // nor the caller's headers (a CSRF token is for this API only, and would break the signature).
  const storage = createTransport({
    ...options,
    baseUrl: '',
    apiKey: undefined,
    token: undefined,
    headers: undefined,
  })
  const getImage = (id: string, signal?: AbortSignal) =>
    transport.json<Image>({ method: 'GET', path: `/v1/images/${enc(id)}`, signal })
  const list = (o: ListOptions = {}) =>
    transport.json<ImagePage>({
      method: 'GET',
      path: '/v1/images',
      query: { limit: o.limit, cursor: o.cursor },
      signal: o.signal,
    })
  const get = <T>(path: string, o: RequestOptions = {}) =>
    transport.json<T>({ method: 'GET', path, signal: o.signal })
  const post = <T>(path: string, json: unknown, o: RequestOptions = {}) =>
    transport.json<T>({ method: 'POST', path, json, signal: o.signal })
  const del = (path: string, o: RequestOptions = {}) =>
    transport.json<void>({ method: 'DELETE', path, signal: o.signal })

  return {
    upload: (source, o) => upload(transport, source, o),
    uploadFromUrl: (url, o = {}) =>
      transport.json<Image>({
        method: 'POST',
        path: '/v1/images',
        query: { visibility: o.visibility },
        headers: { 'idempotency-key': o.idempotencyKey ?? newKey() },
        json: { url },
        signal: o.signal,
      }),
    images: {
      get: (id, o = {}) => getImage(id, o.signal),
      list,
      async *iterate(o = {}) {
        let cursor: string | undefined
        do {
          const page = await list({ ...o, cursor })
          yield* page.items as Image[]
          cursor = page.nextCursor ?? undefined
        } while (cursor)
      },
      delete: (id, o) => del(`/v1/images/${enc(id)}`, o),
      setFocalPoint: (id, point, o = {}) =>
        transport.json<Image>({
          method: 'PATCH',
          path: `/v1/images/${enc(id)}`,
          json: { focalPoint: point },
          signal: o.signal,
        }),
      variantUrl: (image, preset, format) => variantUrl(transport, image, preset, format),
    },
    waitUntilReady: (id, o) => waitUntilReady(transport, getImage, id, o),
    events: (o = {}) => events(transport, o),
    webhooks: {
      create: (input, o) => post('/v1/webhooks', input, o),
      list: (o) => get('/v1/webhooks', o),
      get: (id, o) => get(`/v1/webhooks/${enc(id)}`, o),
      delete: (id, o) => del(`/v1/webhooks/${enc(id)}`, o),
      deliveries: (id, o = {}) =>
        transport.json<WebhookDeliveries>({
          method: 'GET',
          path: `/v1/webhooks/${enc(id)}/deliveries`,
          query: { limit: o.limit },
          signal: o.signal,
        }),
      retry: (id, deliveryId, o) =>
        post(`/v1/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/retry`, undefined, o),
    },
    uploads: {
      create: (input, o) => post('/v1/uploads', input, o),
      complete: (id, o) => post(`/v1/uploads/${enc(id)}/complete`, undefined, o),
      send: (source, o) => directUpload(transport, storage, source, o),
    },
    uploadTokens: {
      create: (input, o) => post('/v1/upload-tokens', input, o),
    },
  }
}

function variantUrl(
  transport: Transport,
  image: Image | string,
  preset: string,
  format?: OutputFormat,
): string {
  if (typeof image !== 'string') {
    const variant = image.variants.find(
      (v) => v.name === preset && (format === undefined || v.format === format),
    )
    if (variant) return variant.url
  }
  const id = typeof image === 'string' ? image : image.id
  const publicImage = typeof image === 'string' || image.visibility === 'public'
  // A public variant's URL is known before it exists; a private one needs the server's signature.
  if (publicImage && format !== undefined)
    return `${transport.baseUrl}/i/${enc(id)}/${enc(preset)}.${EXTENSIONS[format] ?? format}`
  throw new PixelflowError({
    code: 'VARIANT_NOT_FOUND',
    status: 0,
    detail: `Image ${id} has no variant ${preset}${format ? ` in ${format}` : ''}`,
  })
}
