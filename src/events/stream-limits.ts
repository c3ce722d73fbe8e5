/**
 * Open streams per owner and per process. A stream holds a connection and polls the shards, so
 * one owner (or a leak in one client) must not take them all. Counted per process: a load
 * balancer spreads one owner's streams, so the real bound is this times the API processes.
 */
export function createStreamLimits(limits: { perOwner: number; total: number }) {
  const open = new Map<string, number>()
  let total = 0
  return {
    /** A release function, or null when a limit is reached. */
    acquire(ownerId: string): (() => void) | null {
      const mine = open.get(ownerId) ?? 0
      if (mine >= limits.perOwner || total >= limits.total) return null
      open.set(ownerId, mine + 1)
      total++
      let released = false
      return () => {
        if (released) return
        released = true
        total--
        const left = (open.get(ownerId) ?? 1) - 1
        if (left === 0) open.delete(ownerId)
        else open.set(ownerId, left)
      }
    },
    get open(): number {
      return total
    },
  }
}

export type StreamLimits = ReturnType<typeof createStreamLimits>
