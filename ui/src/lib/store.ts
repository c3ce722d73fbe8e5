import { useSyncExternalStore } from 'preact/compat'

/** A value that screens watch; the upload queue and the session live in these, above the router. */
export interface Store<T> {
  get(): T
  set(next: T): void
  update(change: (current: T) => T): void
  subscribe(listener: () => void): () => void
}

export function store<T>(initial: T): Store<T> {
  let value = initial
  const listeners = new Set<() => void>()
  const set = (next: T) => {
    value = next
    for (const listener of [...listeners]) listener()
  }
  return {
    get: () => value,
    set,
    update: (change) => set(change(value)),
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

/**
 * The store's value, re-rendering the component when it changes. Preact's useSyncExternalStore
 * also catches a change made between the render and the subscription, which runs after the paint:
 * the first GET /v1/session can answer in between, and the page then stayed on "Loading…".
 */
export function useStore<T>(source: Store<T>): T {
  return useSyncExternalStore(source.subscribe, source.get)
}
