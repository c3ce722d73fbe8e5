import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { extensionOf, type OutputFormat } from '../domain/formats.js'
import { objectKeys, parseDerivedKey } from '../domain/image.js'
import { AppError } from '../errors/index.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { RenderLocks } from './locks/render-locks.js'

/** Where derived results live: beside the image's original (domain/image.ts objectKeys). */
export const derivedKeys = {
  prefix: objectKeys.derivedPrefix,
  of: (imageId: string, canonical: string, digest: string, format: OutputFormat) =>
    objectKeys.derived(imageId, canonical, digest, extensionOf(format)),
  /** The canonical option string a derived key was made for; null for any other key. */
  canonicalOf: (key: string): string | null => parseDerivedKey(key)?.canonical ?? null,
}

/**
 * stored: read from the store, rendered earlier · rendered: by this request · shared: by another
 * request, in this process or (through the lock) in another one.
 */
export interface DerivedResult {
  kind: 'stored' | 'rendered' | 'shared'
  body: Readable | Buffer
}

export interface DerivedCacheDeps {
  store: Pick<ObjectStore, 'get' | 'put' | 'head'>
  locks: RenderLocks
  /** How long a lock holder may take; the longest another process waits before rendering itself. */
  lockTtlMs: number
  /** How often a process waiting on another's render looks for the object. */
  pollMs?: number
}

/**
 * Get-or-render with single flight at two levels: concurrent requests in this process share one
 * render (a map of promises), and processes sharing the lock driver (Redis) render a result once
 * between them: the others poll the store until the holder's object appears.
 */
export function createDerivedCache(deps: DerivedCacheDeps) {
  const inflight = new Map<string, Promise<Buffer | 'stored'>>()
  const pollMs = deps.pollMs ?? 50

  async function produce(key: string, render: () => Promise<Buffer>): Promise<Buffer | 'stored'> {
    for (;;) {
      const release = await deps.locks.acquire(key, deps.lockTtlMs)
      if (release) {
        try {
          // Someone may have finished between our miss and our lock.
          if (await deps.store.head(key)) return 'stored'
          const data = await render()
          await deps.store.put(key, data)
          return data
        } finally {
          await release()
        }
      }
      await sleep(pollMs)
      if (await deps.store.head(key)) return 'stored'
    }
  }

  return {
    async get(key: string, render: () => Promise<Buffer>): Promise<DerivedResult> {
      const stored = await deps.store.get(key)
      if (stored) return { kind: 'stored', body: stored }
      let flight = inflight.get(key)
      const first = !flight
      if (!flight) {
        flight = produce(key, render).finally(() => inflight.delete(key))
        inflight.set(key, flight)
      }
      const result = await flight
      if (Buffer.isBuffer(result)) return { kind: first ? 'rendered' : 'shared', body: result }
      const body = await deps.store.get(key)
      // Only a delete of the whole image removes a derived object.
      if (!body) throw new AppError('IMAGE_NOT_FOUND', 'The image was deleted')
      return { kind: 'shared', body }
    },
  }
}

export type DerivedCache = ReturnType<typeof createDerivedCache>
