import type { Channel, GetMessage } from 'amqplib'
import type { DeadJob } from '../queue.js'
import type { Link, Session } from './rabbitmq-link.js'
import { decodeJob, encodeJob, publishConfirmed, toDeadJob } from './rabbitmq-message.js'
import type { Topology } from './rabbitmq-topology.js'

export interface DeadLetters {
  list(limit: number): Promise<DeadJob[]>
  redrive(id: string): Promise<boolean>
}

interface DeadOptions {
  link: Link
  topology: Topology
  now: () => number
  waitMs: number
  publishTimeoutMs: number
}

/**
 * The dead queue has no index, so both operations read it with basic.get, holding what they read
 * unacked (each message is seen once), then requeue it: a classic queue puts requeued messages
 * back in their original place. Admin operations, O(dead jobs): serialised within the process, and
 * a concurrent reader in another process sees only what this one is not holding at that moment.
 */
export function createDeadLetters(options: DeadOptions): DeadLetters {
  const { link, topology, now } = options
  let chain: Promise<unknown> = Promise.resolve()

  function serial<T>(work: () => Promise<T>): Promise<T> {
    const run = chain.then(work, work)
    chain = run.catch(() => {})
    return run
  }

  async function hold(channel: Channel, limit: number): Promise<GetMessage[]> {
    const held: GetMessage[] = []
    while (held.length < limit) {
      const message = await channel.get(topology.dead, { noAck: false })
      if (!message) break
      held.push(message)
    }
    return held
  }

  function requeue(session: Session, messages: GetMessage[]): void {
    if (!session.live) return // the broker already requeued them with the channel
    for (const message of messages) session.admin.nack(message, false, true)
  }

  return {
    list: (limit) =>
      serial(async () => {
        const session = await link.ready(options.waitMs)
        const held = await hold(session.admin, Math.max(0, limit))
        try {
          return held.map((message) =>
            toDeadJob(message, topology.main, topology.deliveryLimit, now()),
          )
        } finally {
          requeue(session, held)
        }
      }),
    redrive: (id) =>
      serial(async () => {
        const session = await link.ready(options.waitMs)
        const held = await hold(session.admin, Number.POSITIVE_INFINITY)
        const matching = held.filter((message) => message.properties.messageId === id)
        const others = held.filter((message) => message.properties.messageId !== id)
        try {
          const first = matching[0]
          if (!first) return false
          // One fresh copy with its attempts reset and its history kept (as the SQLite driver does);
          // confirmed before the dead copies are acked, so a crash in between leaves a duplicate.
          const job = { ...decodeJob(first, now()), attempts: 0 }
          await publishConfirmed(
            session.publisher,
            () => session.returns,
            topology.main,
            [encodeJob(job)],
            options.publishTimeoutMs,
          )
          for (const message of matching) session.admin.ack(message)
          matching.length = 0
          return true
        } finally {
          requeue(session, [...others, ...matching])
        }
      }),
  }
}
