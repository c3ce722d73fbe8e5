import { createClient, errorFromResponse, isPixelflowError } from '@pixelflow/client'
import { store } from './store.js'

/** The answer of POST/GET /v1/session; the cookie itself is HttpOnly and never seen here. */
export interface Session {
  ownerId: string
  scopes: string[]
  expiresAt: string
  csrfToken: string
}

/** undefined while the page asks the server whether a cookie is still good; null: signed out. */
export const session = store<Session | null | undefined>(undefined)

/**
 * A 401 once signed in means the session ended (expired, signed out in another tab, its key
 * revoked): back to the sign-in screen rather than a page of errors.
 */
function noteStatus(status: number): void {
  if (status === 401 && session.get()) session.set(null)
}

const csrfHeader = (): Record<string, string> => {
  const token = session.get()?.csrfToken
  return token ? { 'x-csrf-token': token } : {}
}

/**
 * The typed client for images and events. No credential: same-origin requests carry the session
 * cookie by themselves, uploads through XMLHttpRequest too; the CSRF token goes as a header.
 */
export const client = createClient({
  baseUrl: location.origin,
  headers: csrfHeader,
  retries: 2,
  fetch: async (url, init) => {
    const response = await fetch(url, init)
    noteStatus(response.status)
    return response
  },
})

export interface RequestInit {
  json?: unknown
  headers?: Record<string, string>
}

/**
 * Routes the typed client has no method for: the session and the operator's admin API. A refusal
 * is the client's own PixelflowError (its problem's code and detail), like every other call.
 */
export async function request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...csrfHeader() }
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(path, {
    method,
    headers: { ...headers, ...init.headers },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
    credentials: 'same-origin',
  })
  if (!response.ok) {
    noteStatus(response.status)
    throw await errorFromResponse(response)
  }
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}

/** Whether the page's cookie still names a session; a reload gets its CSRF token back here. */
export async function restoreSession(): Promise<void> {
  try {
    session.set(await request<Session>('GET', '/v1/session'))
  } catch {
    session.set(null)
  }
}

/** Trades an API key or JWT for a session at once; the credential is kept nowhere. */
export async function signIn(credential: string): Promise<void> {
  session.set(
    await request<Session>('POST', '/v1/session', {
      headers: { authorization: `Bearer ${credential}` },
    }),
  )
}

export async function signOut(): Promise<void> {
  try {
    await request('DELETE', '/v1/session')
  } finally {
    session.set(null)
  }
}

export const isAdmin = (s: Session | null | undefined) => s?.scopes.includes('admin') === true

/** A message for any failure: the problem's detail, or the client's own words. */
export function messageOf(error: unknown): string {
  // Uploads go through XMLHttpRequest, not the fetch above: their 401 is seen here.
  if (isPixelflowError(error)) {
    noteStatus(error.status)
    return error.detail
  }
  if (error instanceof Error) return error.message
  return String(error)
}
