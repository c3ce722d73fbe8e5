import { randomUUID } from 'node:crypto'
import type { ConsumeMessage } from 'amqplib'
import type { LeasedJob } from '../queue.js'
import type { Session } from './rabbitmq-link.js'
import type { JobRecord } from './rabbitmq-message.js'

/** A message the broker pushed to this process and has not seen settled. */
export interface Delivery {
  session: Session
  message: ConsumeMessage
  job: JobRecord
  /** Deliveries so far, this one included. */
  attempts: number
}

interface Lease {
  delivery: Delivery
  leaseUntil: number
  timer: NodeJS.Timeout
}

export interface LeaseTable {
  /** A delivery waits here, unleased, until receive() claims it: the lease counts from the claim. */
  buffer(delivery: Delivery): void
  claim(max: number): LeasedJob[]
  /** Ends a valid, unexpired lease and hands its delivery over to be settled; null when stale. */
  take(id: string, token: string): Delivery | null
  extend(id: string, token: string): boolean
  /** The session died: the broker requeued all it held, so forget it without touching the channel. */
  forget(session: Session): void
  /** Everything still held, buffered or leased, for close(). */
  drain(): Delivery[]
  counts(): { buffered: number; leased: number; oldestCreatedAt: number | null }
}

/**
 * Leases live in this process only: RabbitMQ has no visibility timeout, an unacked delivery is
 * simply held until its channel closes. So each claim gets a fresh random token and a local timer;
 * an unextended lease is nacked back to the broker after leaseMs and its token forgotten, so a
 * stalled worker's late ack is refused. The deadline is also checked on every call, so a lease
 * whose timer has not run yet (a busy event loop) is still refused once it is past due.
 */
export function createLeaseTable(options: {
  leaseMs: number
  now: () => number
  expired: (delivery: Delivery) => void
}): LeaseTable {
  const { leaseMs, now } = options
  let waiting: Delivery[] = []
  const leases = new Map<string, Lease>()

  function expire(token: string): void {
    const lease = leases.get(token)
    if (!lease) return
    leases.delete(token)
    clearTimeout(lease.timer)
    if (lease.delivery.session.live) options.expired(lease.delivery)
  }

  function held(id: string, token: string): Lease | null {
    const lease = leases.get(token)
    if (!lease || lease.delivery.job.id !== id) return null
    if (now() >= lease.leaseUntil) {
      expire(token)
      return null
    }
    return lease
  }

  const arm = (token: string, ms: number) => setTimeout(() => expire(token), ms).unref()

  return {
    buffer(delivery) {
      waiting.push(delivery)
    },
    claim(max) {
      const claimed = waiting.splice(0, Math.max(0, max))
      return claimed.map((delivery) => {
        const token = randomUUID()
        const leaseUntil = now() + leaseMs
        leases.set(token, { delivery, leaseUntil, timer: arm(token, leaseMs) })
        const { id, payload } = delivery.job
        return { id, payload, attempts: delivery.attempts, token, leaseUntil }
      })
    },
    take(id, token) {
      const lease = held(id, token)
      if (!lease) return null
      leases.delete(token)
      clearTimeout(lease.timer)
      return lease.delivery
    },
    extend(id, token) {
      const lease = held(id, token)
      if (!lease) return false
      clearTimeout(lease.timer)
      lease.leaseUntil = now() + leaseMs
      lease.timer = arm(token, leaseMs)
      return true
    },
    forget(session) {
      waiting = waiting.filter((delivery) => delivery.session !== session)
      for (const [token, lease] of leases) {
        if (lease.delivery.session !== session) continue
        clearTimeout(lease.timer)
        leases.delete(token)
      }
    },
    drain() {
      const all = [...waiting, ...[...leases.values()].map((lease) => lease.delivery)]
      for (const lease of leases.values()) clearTimeout(lease.timer)
      waiting = []
      leases.clear()
      return all
    },
    counts() {
      const oldest = waiting.reduce<number | null>(
        (min, d) => (min === null || d.job.createdAt < min ? d.job.createdAt : min),
        null,
      )
      return { buffered: waiting.length, leased: leases.size, oldestCreatedAt: oldest }
    },
  }
}
