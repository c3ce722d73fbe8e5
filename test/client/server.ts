import {
  type ClientOptions,
  createClient,
  type PixelflowClient,
  type PixelflowError,
} from '../../packages/client/src/index.js'
import { type Harness, startHarness } from '../fixtures/harness.js'

/** The whole pipeline in this process, listening on a loopback port for the client to call. */
export interface ClientServer {
  h: Harness
  port: number
  url: string
  /** A client for alice (or `options` over it). */
  client(options?: Partial<ClientOptions>): PixelflowClient
  close(): Promise<void>
}

/**
 * `beforeListen` runs before the port opens: the place for test hooks on the app (Fastify takes
 * no new hooks once it listens).
 */
export async function startClientServer(
  env: Record<string, string> = {},
  beforeListen?: (h: Harness) => void,
): Promise<ClientServer> {
  const h = await startHarness(env)
  beforeListen?.(h)
  await h.pf.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = h.pf.app.server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  return {
    h,
    port,
    url,
    client: (options = {}) => createClient({ baseUrl: url, apiKey: h.alice, ...options }),
    close: () => h.close(),
  }
}

/** Every progress report of one upload, and checks on the sequence. */
export function progressLog() {
  const events: { loaded: number; total?: number }[] = []
  return {
    events,
    onProgress: (p: { loaded: number; total?: number }) => events.push(p),
    get last() {
      return events.at(-1)
    },
    /** `loaded` never goes down within one attempt. */
    monotonic: () => events.every((e, i) => i === 0 || e.loaded >= events[i - 1]!.loaded),
  }
}

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function rejection<E = PixelflowError>(promise: Promise<unknown>): Promise<E> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome)}`)
  return outcome.error as E
}
