import { useEffect, useState } from 'preact/hooks'

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

/** The store's value, re-rendering the component when it changes. */
export function useStore<T>(source: Store<T>): T {
  const value = source.get()
  const [, rerender] = useState(0)
  useEffect(() => {
    const unsubscribe = source.subscribe(() => rerender((n) => n + 1))
    // Effects run after the paint: a change in between (the first GET /v1/session answering
    // fast) reached no listener, and the page stayed on "Loading…". Catch up on it here.
    if (source.get() !== value) rerender((n) => n + 1)
    return unsubscribe
  }, [source])
  return value
}
