import type { ConsumeMessage } from 'amqplib'
import { backoffMs } from '../backoff.js'
import type { FailOutcome, QueueDriver } from '../queue.js'
import { createDeadLetters } from './rabbitmq-dead.js'
import { type Delivery, createLeaseTable } from './rabbitmq-leases.js'
import { type Session, openLink } from './rabbitmq-link.js'
import { MAX_ERROR_CHARS, decodeJob, deliveryCount, encodeJob, publishConfirmed } from './rabbitmq-message.js'
import { declareTopology, delayQueueFor, topologyFor } from './rabbitmq-topology.js'

export interface RabbitQueueOptions {
  /** amqp(s)://user:pass@host:port/vhost; `?heartbeat=` defaults to 10 s. */
  url: string
  /** The job queue's name; `<queue>.dead` and `<queue>.delay.<ms>` are declared beside it. */
  queue: string
  leaseMs: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  /**
   * Unacked deliveries per process: leased jobs plus those buffered for the next receive. Set it
   * to the worker's concurrency, so the buffer only holds what the next claim will take.
   */
  prefetch?: number
  /** Broker-side backstop for crash loops (`x-delivery-limit`): redeliveries within one try. */
  deliveryLimit?: number
  /**
   * The broker closes a channel whose delivery stays unacked past its consumer timeout (default
   * 30 min), redelivering all that channel held, so it must exceed the longest job plus the time a
   * delivery may wait in the buffer. Sent as the `x-consumer-timeout` consumer argument, which
   * RabbitMQ honours from 3.12 (3.11.15); older brokers ignore it and only the global
   * `consumer_timeout` in rabbitmq.conf applies.
   */
  consumerTimeoutMs?: number
  reconnectMaxMs?: number
  /** How long enqueue, stats and the dead-letter calls wait for a connection before failing. */
  connectWaitMs?: number
  publishTimeoutMs?: number
  now?: () => number
  /** The jitter source; tests pin it. */
  random?: () => number
}

/**
 * QueueDriver on RabbitMQ (DESIGN.md §4): a quorum queue, publisher confirms on every publish,
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

  const leases = createLeaseTable({ leaseMs: options.leaseMs, now, requeue: (d) => settle(d, 'requeue') })
  const link = openLink({
    url: options.url,
    name: `pixelflow ${options.queue}`,
    reconnectMaxMs: options.reconnectMaxMs ?? 5_000,
    onLost: (session) => leases.forget(session),
    async setup(session) {
      await declareTopology(session.publisher, topology)
      await session.consumer.prefetch(options.prefetch ?? 10)
      const args = options.consumerTimeoutMs ? { 'x-consumer-timeout': options.consumerTimeoutMs } : {}
      const { consumerTag } = await session.consumer.consume(topology.main, (m) => onDelivery(session, m), { arguments: args })
      session.consumerTag = consumerTag
    },
  })
  const dead = createDeadLetters({ link, topology, now, waitMs, publishTimeoutMs })

  function onDelivery(session: Session, message: ConsumeMessage | null): void {
    // null: the broker cancelled the consumer (queue deleted, or a consumer timeout on ≥ 4.3).
    if (!message) return link.drop(session, new Error('[rabbitmq] consumer cancelled by the broker'))
    if (closing) return session.consumer.nack(message, false, true)
    const job = decodeJob(message, now())
    leases.buffer({ session, message, job, attempts: job.attempts + deliveryCount(message) + 1 })
  }

  /** False when the channel is gone: the broker has then requeued the delivery by itself. */
  function settle(delivery: Delivery, how: 'ack' | 'requeue'): boolean {
    if (!delivery.session.live) return false
    try {
      if (how === 'ack') delivery.session.consumer.ack(delivery.message)
      else delivery.session.consumer.nack(delivery.message, false, true)
      return true
    } catch {
      return false // closed under us; its close event is on the way
    }
  }

  const publish = (session: Session, queue: string, messages: ReturnType<typeof encodeJob>[]) =>
    publishConfirmed(session.publisher, () => session.returns, queue, messages, publishTimeoutMs)

  async function fail(id: string, token: string, error: string): Promise<FailOutcome> {
    const delivery = leases.take(id, token)
    if (!delivery) return 'stale'
    const { job, attempts, session } = delivery
    const next = { ...job, attempts, errors: [...job.errors, error.slice(0, MAX_ERROR_CHARS)] }
    const isDead = attempts >= options.maxAttempts
    try {
      if (isDead) await publish(session, topology.dead, [encodeJob(next)])
      else {
        const { queue } = delayQueueFor(topology, attempts, options.backoffBaseMs, options.backoffMaxMs)
        const delay = backoffMs(attempts, options.backoffBaseMs, options.backoffMaxMs, options.random)
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
    async enqueue(jobs) {
      if (jobs.length === 0) return
      const session = await link.ready(waitMs)
      const createdAt = now()
      const messages = jobs.map(({ id, payload }) => encodeJob({ id, payload, attempts: 0, createdAt, errors: [] }))
      await publish(session, topology.main, messages)
    },
    async receive(max) {
      return link.current() ? leases.claim(max) : []
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
      const session = await link.ready(waitMs)
      const check = (queue: string) => session.publisher.checkQueue(queue)
      const [main, deadQueue, ...delays] = await Promise.all([check(topology.main), check(topology.dead), ...[...topology.delays.values()].map(check)])
      const local = leases.counts()
      return {
        visible: main.messageCount + local.buffered,
        inFlight: local.leased,
        delayed: delays.reduce((sum, q) => sum + q.messageCount, 0),
        dead: deadQueue.messageCount,
        oldestAgeMs: local.oldestCreatedAt === null ? 0 : Math.max(0, now() - local.oldestCreatedAt),
        consumers: main.consumerCount,
      }
    },
    listDead: (limit) => dead.list(limit),
    redrive: (id) => dead.redrive(id),
    async check() {
      const session = link.current()
      if (!session) throw link.notConnected()
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
