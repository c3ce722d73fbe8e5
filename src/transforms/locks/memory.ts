import type { RenderLocks } from './render-locks.js'

/** One process: a map of held keys with their expiry. Right when one process serves transforms. */
export function createMemoryLocks(now: () => number = Date.now): RenderLocks {
  const held = new Map<string, { token: symbol; until: number }>()
  return {
    driver: 'memory',
    async acquire(key, ttlMs) {
      const current = held.get(key)
      if (current && current.until > now()) return null
      const token = Symbol(key)
      held.set(key, { token, until: now() + ttlMs })
      return async () => {
        if (held.get(key)?.token === token) held.delete(key)
      }
    },
    async close() {
      held.clear()
    },
  }
}
