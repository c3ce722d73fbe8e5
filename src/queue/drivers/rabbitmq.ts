import type { ConsumeMessage } from 'amqplib'
import { backoffMs } from '../backoff.js'
import type { FailOutcome, QueueDriver } from '../queue.js'
import { createDeadLetters } from './rabbitmq-dead.js'
import { createLeaseTable, type Delivery } from './rabbitmq-leases.js'
import { openLink, type Session } from './rabbitmq-link.js'
import {
  decodeJob,
  deliveryCount,
  encodeJob,
  MAX_ERROR_CHARS,
  publishConfirmed,
} from './rabbitmq-message.js'
import type { RabbitQueueOptions } from './rabbitmq-options.js'
import { declareTopology, delayQueueFor, topologyFor } from './rabbitmq-topology.js'

export type { RabbitQueueOptions } from './rabbitmq-options.js'

/**
 * QueueDriver on RabbitMQ (the contract in ../queue.ts): a quorum queue, publisher confirms on every publish,
 * leases kept in this process (rabbitmq-leases.ts), retries through delay queues and failures
 * into a dead queue (rabbitmq-topology.ts), and a link that reconnects by itself
 * (rabbitmq-link.ts). Enqueue cannot drop a repeated id: duplicates are delivered, and workers
 * are idempotent. Attempts = the attempts header (deliveries of earlier copies, carried through
 * fail and delay) + `x-delivery-count` (redeliveries of this copy: lease expiries, releases,
 * crashes) + 1. Stats are this process's view: inFlight and the buffered part of visible are
 * local, and oldestAgeMs only sees buffered jobs (AMQP 0-9-1 cannot peek at a queue's head).
 */
export function createRabbitQueue(options: RabbitQueueOptions): QueueDriver {
  const now = options.now ?? Date.now
  const waitMs = options.connectWaitMs ?? 10_000
  const publishTimeoutMs = options.publishTimeoutMs ?? 30_000
  const topology = topologyFor({ ...options, deliveryLimit: options.deliveryLimit ?? 20 })
  let closing = false

  const leases = createLeaseTable({
    leaseMs: options.leaseMs,
    now,
    expired: (d) => settle(d, 'reject'),
  })
  const link = openLink({
    url: options.url,
    name: `pixelflow ${options.queue}`,
    reconnectMaxMs: options.reconnectMaxMs ?? 5_000,
    onLost: (session) => leases.forget(session),
    onDown: (err) =>
      options.logger?.warn(
        { driver: 'rabbitmq', queue: options.queue, err },
        'queue connection lost',
      ),
    onUp: (downMs) =>
      options.logger?.info(
        { driver: 'rabbitmq', queue: options.queue, downMs },
        'queue connection restored',
      ),
    async setup(session) {
      await declareTopology(session.publisher, topology)
      if (options.consume === false) return
      await session.consumer.prefetch(options.prefetch ?? 10)
      const args = options.consumerTimeoutMs
        ? { 'x-consumer-timeout': options.consumerTimeoutMs }
        : {}
      const { consumerTag } = await session.consumer.consume(
        topology.main,
        (m) => onDelivery(session, m),
        { arguments: args },
      )
      session.consumerTag = consumerTag
    },
  })
  const dead = createDeadLetters({ link, topology, now, waitMs, publishTimeoutMs })

  const available: (() => void)[] = []

  function onDelivery(session: Session, message: ConsumeMessage | null): void {
    // null: the broker cancelled the consumer (queue deleted, or a consumer timeout on ≥ 4.3).
    if (!message) {
      link.drop(session, new Error('[rabbitmq] consumer cancelled by the broker'))
      return
    }
    const job = decodeJob(message, now())
    const delivery = { session, message, job, attempts: job.attempts + deliveryCount(message) + 1 }
    if (closing) return void settle(delivery, 'requeue')
    leases.buffer(delivery)
    for (const listener of available) listener()
  }

  /**
   * False when the channel is gone: the broker has then requeued the delivery by itself. Both
   * returns requeue; on RabbitMQ ≥ 4.3 only basic.reject counts as a failed delivery towards
   * `x-delivery-limit`, so an expired lease (a stalled or lost worker) rejects, while a release (a
   * shutdown, not the job's fault) nacks. 3.x counts both.
   */
  function settle(delivery: Delivery, how: 'ack' | 'requeue' | 'reject'): boolean {
    if (!delivery.session.live) return false
    const { consumer } = delivery.session
    try {
      if (how === 'ack') consumer.ack(delivery.message)
      else if (how === 'reject') consumer.reject(delivery.message, true)
      else consumer.nack(delivery.message, false, true)
      return true
    } catch {
      return false // closed under us; its close event is on the way
    }
  }

  const publish = (session: Session, queue: string, messages: ReturnType<typeof encodeJob>[]) =>
    publishConfirmed(session.publisher, () => session.returns, queue, messages, publishTimeoutMs)

  async function fail(
    id: string,
    token: string,
    error: string,
    counted = Number.POSITIVE_INFINITY,
  ): Promise<FailOutcome> {
    const delivery = leases.take(id, token)
    if (!delivery) return 'stale'
    const { job, session } = delivery
    // The next copy carries the lower count on: deliveries that never started stay forgotten.
    const attempts = Math.min(delivery.attempts, counted)
    const next = { ...job, attempts, errors: [...job.errors, error.slice(0, MAX_ERROR_CHARS)] }
    const isDead = attempts >= options.maxAttempts
    try {
      if (isDead) await publish(session, topology.dead, [encodeJob(next)])
      else {
        const { queue } = delayQueueFor(
          topology,
          attempts,
          options.backoffBaseMs,
          options.backoffMaxMs,
        )
        const delay = backoffMs(
          attempts,
          options.backoffBaseMs,
          options.backoffMaxMs,
          options.random,
        )
        await publish(session, queue, [encodeJob(next, delay)])
      }
    } catch (cause) {
      // Not recorded: give the original back so the job is retried, never lost.
      if (settle(delivery, 'requeue')) throw cause
      return 'stale' // the session died: the broker requeued the original
    }
    // Only now that the copy is confirmed: a crash before this ack leaves a harmless duplicate.
    settle(delivery, 'ack')
    return isDead ? 'dead' : 'retry'
  }

  return {
    driver: 'rabbitmq',
    // A prefetched delivery returned when its consumer dies counts, started or not.
    countsHeldDeliveries: true,
    async enqueue(jobs) {
      if (jobs.length === 0) return
      const session = await link.ready(waitMs)
      const createdAt = now()
      const messages = jobs.map(({ id, payload }) =>
        encodeJob({ id, payload, attempts: 0, createdAt, errors: [] }),
      )
      await publish(session, topology.main, messages)
    },
    async receive(max) {
      return link.current() ? leases.claim(max) : []
    },
    onJobsAvailable(listener) {
      available.push(listener)
    },
    async ack(id, token) {
      const delivery = leases.take(id, token)
      return delivery !== null && settle(delivery, 'ack')
    },
    async extend(id, token) {
      return leases.extend(id, token)
    },
    async release(id, token) {
      const delivery = leases.take(id, token)
      if (!delivery) return false
      settle(delivery, 'requeue')
      return true // either way the job is back in the queue
    },
    fail,
    async stats() {
      const session = link.current() // fail fast: a metrics scrape must not hang on a reconnect
      if (!session) throw link.notConnected()
      const check = (queue: string) => session.publisher.checkQueue(queue)
      const [main, deadQueue, ...delays] = await Promise.all([
        check(topology.main),
        check(topology.dead),
        ...[...topology.delays.values()].map(check),
      ])
      const local = leases.counts()
      return {
        visible: main.messageCount + local.buffered,
        inFlight: local.leased,
        delayed: delays.reduce((sum, q) => sum + q.messageCount, 0),
        dead: deadQueue.messageCount,
        oldestAgeMs:
          local.oldestCreatedAt === null ? 0 : Math.max(0, now() - local.oldestCreatedAt),
        consumers: main.consumerCount,
      }
    },
    listDead: (limit) => dead.list(limit),
    redrive: (id) => dead.redrive(id),
    async check() {
      const session = link.current()
      if (!session) throw link.notConnected()
      if (session.blocked)
        throw new Error(`[rabbitmq] the broker blocks publishing: ${session.blocked}`)
      await session.publisher.checkQueue(topology.main)
    },
    async close() {
      closing = true
      const session = link.current()
      if (session?.consumerTag) await session.consumer.cancel(session.consumerTag).catch(() => {})
      for (const delivery of leases.drain()) settle(delivery, 'requeue')
      await link.close()
    },
  }
}
