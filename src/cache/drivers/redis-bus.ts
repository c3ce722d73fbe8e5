import type { Redis } from 'ioredis'

/** Messages are "<origin> <key>": the origin lets a process skip its own invalidations. */
export function invalidationMessage(origin: string, key: string): string {
  return `${origin} ${key}`
}

export interface InvalidationBusOptions {
  channel: string
  origin: string
  /** Another process wrote `key`: drop it from L1. */
  onInvalidate: (key: string) => void
  /** A (re)subscription is live: drop all of L1 (see below). */
  onSubscribed: () => void
  onError: (error: unknown) => void
}

/**
 * Listens for invalidations on a dedicated connection (a subscribed connection can do nothing
 * else). Resolves once the first subscription is live.
 *
 * ioredis's autoResubscribe is off on purpose: we subscribe on every 'ready' ourselves, so we
 * know when a new subscription is live and can clear L1 exactly then. While the subscriber was
 * down, invalidations published by other processes were lost; anything L1 holds, or is loading,
 * may predate them. Clearing after the SUBSCRIBE is acknowledged (clear also aborts in-flight
 * loads, see entry-lru.ts) means every later L1 entry was read while we were listening.
 */
export function listenForInvalidations(
  subscriber: Redis,
  options: InvalidationBusOptions,
): Promise<void> {
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== options.channel) return
    const space = message.indexOf(' ')
    if (space < 0 || message.slice(0, space) === options.origin) return
    options.onInvalidate(message.slice(space + 1))
  })
  return new Promise((resolve) => {
    subscriber.on('ready', () => {
      subscriber.subscribe(options.channel).then(() => {
        options.onSubscribed()
        resolve()
      }, options.onError)
    })
  })
}
