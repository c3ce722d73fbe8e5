import { backoffMs, sleep } from './backoff.js'
import { errorFromResponse, PixelflowError } from './errors.js'

export type Method = 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'
export type Send = (url: string, init: RequestInit) => Promise<Response>

export interface TransportSettings {
  baseUrl: string
  apiKey?: string | undefined
  token?: string | undefined
  fetch?: typeof fetch | undefined
  /** Retries after the first attempt (429, 503, network errors of idempotent requests). */
  retries?: number | undefined
  /** A `Retry-After` longer than this is not waited for: the error is thrown at once. */
  maxRetryDelayMs?: number | undefined
  userAgent?: string | undefined
  /** Added to every request, read at each attempt (a CSRF token that changes on sign-in). */
  headers?: Record<string, string> | (() => Record<string, string>) | undefined
}

export interface Call {
  method: Method
  path: string
  query?: Record<string, string | number | boolean | undefined> | undefined
  headers?: Record<string, string | undefined> | undefined
  json?: unknown
  /** A fresh body for each attempt (a stream is read once). */
  body?: (() => Promise<RequestInit>) | undefined
  /** Safe to send twice after a lost answer; by default GET, PUT, DELETE or an Idempotency-Key. */
  idempotent?: boolean | undefined
  /** False for a body that can be sent only once (a caller's stream): no second attempt then. */
  replayable?: boolean | undefined
  signal?: AbortSignal | undefined
  /** Sends instead of fetch: XMLHttpRequest, for upload progress in a browser. */
  send?: Send | undefined
}

export interface Transport {
  readonly baseUrl: string
  url(path: string, query?: Call['query']): string
  /** The answer when its status is 2xx; otherwise a PixelflowError, after the retries it allows. */
  request(call: Call): Promise<Response>
  json<T>(call: Call): Promise<T>
}

const DEFAULT_RETRIES = 4
const DEFAULT_MAX_RETRY_DELAY_MS = 60_000

export function createTransport(settings: TransportSettings): Transport {
  const baseUrl = settings.baseUrl.replace(/\/+$/, '')
  const retries = settings.retries ?? DEFAULT_RETRIES
  const maxDelay = settings.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS
  // Looked up at call time, not bound at creation: tests and polyfills may replace it later.
  const doFetch: Send = (url, init) => (settings.fetch ?? globalThis.fetch)(url, init)
  const credential = settings.apiKey ?? settings.token
  const common: Record<string, string> = {}
  if (credential) common.authorization = `Bearer ${credential}`
  // A browser sets its own User-Agent; only other runtimes get ours by default.
  const userAgent = settings.userAgent ?? (isBrowser() ? undefined : 'pixelflow-client/0.1.0')
  if (userAgent) common['user-agent'] = userAgent

  const url = (path: string, query?: Call['query']) => {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query ?? {}))
      if (value !== undefined) params.set(name, String(value))
    const search = params.toString()
    return `${baseUrl}${path}${search ? `?${search}` : ''}`
  }

  async function attempt(call: Call): Promise<Response> {
    const extra = settings.headers
    const headers: Record<string, string> = { ...common }
    for (const [name, value] of Object.entries(
      typeof extra === 'function' ? extra() : (extra ?? {}),
    ))
      headers[name.toLowerCase()] = value
    for (const [name, value] of Object.entries(call.headers ?? {}))
      if (value !== undefined) headers[name.toLowerCase()] = value
    let init: RequestInit = { method: call.method, headers, signal: call.signal ?? null }
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json'
      init.body = JSON.stringify(call.json)
    } else if (call.body) {
      init = { ...init, ...(await call.body()) }
    }
    return (call.send ?? doFetch)(url(call.path, call.query), init)
  }

  async function request(call: Call): Promise<Response> {
    const idempotent =
      call.idempotent ??
      (call.method === 'GET' ||
        call.method === 'DELETE' ||
        call.method === 'PUT' ||
        Object.keys(call.headers ?? {}).some((name) => name.toLowerCase() === 'idempotency-key'))
    for (let n = 0; ; n++) {
      call.signal?.throwIfAborted()
      const canRetry = n < retries && (call.replayable ?? true)
      let response: Response
      try {
        response = await attempt(call)
      } catch (error) {
        if (call.signal?.aborted) throw call.signal.reason
        const failure = networkError(error)
        // Only a request that may safely run twice is repeated after an answer that never came.
        if (!(canRetry && idempotent)) throw failure
        await sleep(backoffMs(n), call.signal)
        continue
      }
      if (response.ok) return response
      const failure = await errorFromResponse(response)
      const delay = retryDelay(failure, n)
      if (!canRetry || delay === null || delay > maxDelay) throw failure
      await sleep(delay, call.signal)
    }
  }

  return {
    baseUrl,
    url,
    request,
    async json<T>(call: Call): Promise<T> {
      const response = await request(call)
      if (response.status === 204) return undefined as T
      try {
        return (await response.json()) as T
      } catch (error) {
        throw new PixelflowError({
          code: 'UNEXPECTED_RESPONSE',
          status: response.status,
          detail: 'The answer is not JSON',
          requestId: response.headers.get('x-request-id') ?? undefined,
          cause: error,
        })
      }
    },
  }
}

/** How long to wait before repeating a refused request, or null when repeating cannot help. */
function retryDelay(error: PixelflowError, attempt: number): number | null {
  if (error.status !== 429 && error.status !== 503) return null
  if (error.retryAfterSeconds !== undefined) return error.retryAfterSeconds * 1000
  return backoffMs(attempt)
}

function networkError(error: unknown): PixelflowError {
  const reason = error instanceof Error ? (error.cause as Error | undefined)?.message : undefined
  return new PixelflowError({
    code: 'NETWORK_ERROR',
    status: 0,
    detail: `No answer from the server${reason ? ` (${reason})` : ''}`,
    cause: error,
  })
}

export function isBrowser(): boolean {
  return typeof window !== 'undefined' && typeof document !== 'undefined'
}
