import type { Cursor, EventFeed, FeedPage } from './feed.js'
import { ALL_BUCKETS, type EventNotifier } from './notifier.js'

export interface WatchOptions {
  feed: EventFeed
  notifier: EventNotifier
  ownerId: string
  /** The owner's bucket: hints for other buckets do not wake this stream. */
  bucket: number
  cursor: Cursor
  /** Read again after this long without a hint: a lost hint only delays. */
  pollMs: number
  signal: AbortSignal
}

/**
 * One owner's pages of events, as they come, until `signal` aborts: read, then wait for a hint
 * for the owner's bucket or the poll interval, whichever comes first. The hint listener is in
 * place before each read, so a hint that arrives during a read is not lost.
 */
export async function* watchEvents(options: WatchOptions): AsyncGenerator<FeedPage> {
  const { feed, notifier, ownerId, bucket, cursor, pollMs, signal } = options
  let hinted = false
  let wake: (() => void) | null = null
  const unsubscribe = notifier.subscribe((hint) => {
    if (hint !== bucket && hint !== ALL_BUCKETS) return
    hinted = true
    wake?.()
  })
  const onAbort = () => wake?.()
  signal.addEventListener('abort', onAbort)
  try {
    while (!signal.aborted) {
      hinted = false
      const page = await feed.read(ownerId, cursor)
      if (signal.aborted) return
      yield page
      if (page.more || hinted) continue
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      wake = null
    }
  } finally {
    unsubscribe()
    signal.removeEventListener('abort', onAbort)
  }
}
