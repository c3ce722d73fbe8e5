import type { JobRecord } from './sqs-message.js'

/** One receive of one message, as this process holds it. */
export interface Lease {
  token: string
  job: JobRecord
  messageId: string
  receiptHandle: string
  /** Deliveries so far, this one included: earlier copies' plus this message's receive count. */
  attempts: number
  leaseUntil: number
}

export interface LeaseTable {
  add(lease: Lease): void
  /** The lease, if `token` holds `id` and has not expired; it stays in the table. */
  held(id: string, token: string): Lease | null
  /** Like held, but ends the lease here: the caller settles the message with the broker. */
  take(id: string, token: string): Lease | null
  /** Pushes an unexpired lease's deadline forward; false if it ended meanwhile. */
  renew(token: string, leaseUntil: number): boolean
  drop(token: string): void
  /** Forgets expired leases (the broker has made their messages visible again by now). */
  sweep(): void
  /** Every unexpired lease, taken out of the table (for close). */
  drain(): Lease[]
}

/**
 * Why leases are kept here and not only in SQS. The broker's receipt handle is not a fencing
 * token: DeleteMessage with an old handle "succeeds, but the message might not be deleted"
 * (API reference), and in practice an old handle may still delete a message that another
 * consumer has received since, and ChangeMessageVisibility answers for whichever receive is
 * current. So each receive gets its own random token, and ack, extend, release and fail reach
 * the broker only while this process's lease is unexpired.
 *
 * The local deadline is computed from the moment the ReceiveMessage (or ChangeMessageVisibility)
 * request was sent, and the visibility timeout is leaseMs rounded up to whole seconds, so the
 * broker's deadline is never earlier than ours: a call we let through is made while no one else
 * can hold the message. What remains is the flight time of that one call: a DeleteMessage sent a
 * few milliseconds before the deadline may reach SQS after it. Keep leases well above request
 * latency (the worker extends every leaseMs/3) and workers idempotent, as SQS requires anyway.
 */
export function createLeaseTable(now: () => number): LeaseTable {
  const leases = new Map<string, Lease>()

  function held(id: string, token: string): Lease | null {
    const lease = leases.get(token)
    if (!lease || lease.job.id !== id) return null
    if (now() >= lease.leaseUntil) {
      leases.delete(token)
      return null
    }
    return lease
  }

  return {
    add(lease) {
      leases.set(lease.token, lease)
    },
    held,
    take(id, token) {
      const lease = held(id, token)
      if (lease) leases.delete(token)
      return lease
    },
    renew(token, leaseUntil) {
      const lease = leases.get(token)
      if (!lease || now() >= lease.leaseUntil) return false
      lease.leaseUntil = Math.max(lease.leaseUntil, leaseUntil)
      return true
    },
    drop(token) {
      leases.delete(token)
    },
    sweep() {
      const at = now()
      for (const [token, lease] of leases) if (at >= lease.leaseUntil) leases.delete(token)
    },
    drain() {
      const at = now()
      const live = [...leases.values()].filter((lease) => at < lease.leaseUntil)
      leases.clear()
      return live
    },
  }
}

/**
 * FIFO queues take no per-message delay, so there a retry keeps its message and only pushes its
 * visibility out by the backoff; the message cannot carry the new error. This process remembers
 * the errors it saw per message (bounded), and which messages wait out a backoff, so stats can
 * count them as delayed rather than in flight. Another process that receives the message later
 * knows none of it: on FIFO queues the history in a dead letter is this process's part of it.
 */
export function createRetryMemory(now: () => number, limit = 10_000) {
  const entries = new Map<string, { errors: string[]; dueAt: number }>()
  return {
    remember(messageId: string, errors: string[], dueAt: number): void {
      entries.delete(messageId)
      entries.set(messageId, { errors, dueAt })
      for (const key of entries.keys()) {
        if (entries.size <= limit) break
        entries.delete(key)
      }
    },
    errorsFor(messageId: string): string[] | undefined {
      return entries.get(messageId)?.errors
    },
    /** The message was received again: its backoff is over. */
    due(messageId: string): void {
      const entry = entries.get(messageId)
      if (entry) entry.dueAt = 0
    },
    forget(messageId: string): void {
      entries.delete(messageId)
    },
    waiting(): number {
      const at = now()
      let count = 0
      for (const entry of entries.values()) if (entry.dueAt > at) count++
      return count
    },
  }
}

export type RetryMemory = ReturnType<typeof createRetryMemory>
