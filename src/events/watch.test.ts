import { describe, expect, it } from 'vitest'
import type { Cursor, EventFeed, FeedPage } from './feed.js'
import { ALL_BUCKETS, createLocalNotifier } from './notifier.js'
import { createStreamLimits } from './stream-limits.js'
import { watchEvents } from './watch.js'

/** A feed that counts its reads and answers empty pages. */
function countingFeed() {
  const reads: number[] = []
  const feed = {
    read: async (): Promise<FeedPage> => {
      reads.push(Date.now())
      return { entries: [], id: 'x', more: false }
    },
  } as unknown as EventFeed
  return { feed, reads }
}

const cursor: Cursor = { positions: new Map(), unknown: new Set() }

describe('watchEvents', () => {
  it('reads at once on a hint for its bucket or for all, not for another bucket, and polls otherwise', async () => {
    const { feed, reads } = countingFeed()
    const notifier = createLocalNotifier()
    const abort = new AbortController()
    const options = { feed, notifier, ownerId: 'o', bucket: 7, cursor, signal: abort.signal }
    const loop = (async () => {
      for await (const _ of watchEvents({ ...options, pollMs: 60_000 })) {
        // pages are counted by the feed
      }
    })()
    await expect.poll(() => reads.length).toBe(1)
    notifier.publish(8)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(reads.length).toBe(1)
    notifier.publish(7)
    await expect.poll(() => reads.length).toBe(2)
    notifier.publish(ALL_BUCKETS)
    await expect.poll(() => reads.length).toBe(3)
    abort.abort()
    await loop

    const polled = countingFeed()
    const again = new AbortController()
    const polling = (async () => {
      for await (const _ of watchEvents({
        ...options,
        feed: polled.feed,
        signal: again.signal,
        pollMs: 20,
      })) {
        // counted by the feed
      }
    })()
    await expect.poll(() => polled.reads.length).toBeGreaterThanOrEqual(4)
    again.abort()
    await polling
  })
})

describe('stream limits', () => {
  it('bounds streams per owner and in all, and frees a slot once', () => {
    const limits = createStreamLimits({ perOwner: 2, total: 3 })
    const a1 = limits.acquire('a')
    expect(limits.acquire('a')).not.toBeNull()
    expect(limits.acquire('a')).toBeNull()
    expect(limits.acquire('b')).not.toBeNull()
    expect(limits.acquire('c')).toBeNull() // 3 in all
    a1?.()
    a1?.()
    expect(limits.open).toBe(2)
    expect(limits.acquire('c')).not.toBeNull()
  })
})
