import type { Channel } from 'amqplib'

/**
 * The queues behind one logical job queue `q`:
 * - `q`: the jobs. A quorum queue (replicated, Raft) with `x-delivery-limit` as a backstop for
 *   crash loops: a job that kills its worker is redelivered with `x-delivery-count` + 1 each time,
 *   and past the limit the broker dead-letters it into `q.dead` instead of looping forever.
 * - `q.delay.<ms>`: one quorum queue per backoff ceiling, with `x-message-ttl` = that ceiling and
 *   dead-lettering back into `q`. A retry is published here with a per-message `expiration` (the
 *   jittered delay, never above the ceiling). RabbitMQ only expires messages at the head of a
 *   queue, so a short delay behind a long one would wait for it; keeping one queue per ceiling
 *   bounds that wait by the ceiling, so every retry is back within backoffMaxMs. (Quorum queues
 *   ignored per-message TTL before 3.10; 3.10.8 here honours it, and the queue TTL bounds it anyway.)
 * - `q.dead`: failed jobs with their error history, listed with basic.get + requeue. A classic
 *   queue on purpose: quorum queues count every requeue as a delivery, and RabbitMQ ≥ 4.0 applies
 *   a default delivery limit of 20, so listing dead jobs 20 times would silently drop them (and
 *   `x-delivery-limit: -1` does not disable the limit on 3.x: it drops at once, checked on 3.10.8).
 *   The price: on a cluster the dead queue is not replicated.
 *
 * Dead-lettering out of a quorum queue is at-most-once unless `x-dead-letter-strategy` is
 * `at-least-once`, which in turn needs `x-overflow: reject-publish` (RabbitMQ ≥ 3.10).
 * Queue arguments cannot change once declared: a different value fails the declaration with
 * PRECONDITION_FAILED, which shows in check() until an operator deletes or migrates the queue.
 * Delay queues are named by their ceiling, so a changed backoff declares new ones instead.
 */
export interface Topology {
  main: string
  dead: string
  /** Delay queue per backoff ceiling in ms. */
  delays: Map<number, string>
  deliveryLimit: number
}

export interface TopologyOptions {
  queue: string
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  deliveryLimit: number
}

export function backoffCeilingMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.max(1, Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)))
}

export function topologyFor(options: TopologyOptions): Topology {
  const delays = new Map<number, string>()
  for (let attempt = 1; attempt < options.maxAttempts; attempt++) {
    const ceiling = backoffCeilingMs(attempt, options.backoffBaseMs, options.backoffMaxMs)
    delays.set(ceiling, `${options.queue}.delay.${ceiling}`)
  }
  return {
    main: options.queue,
    dead: `${options.queue}.dead`,
    delays,
    deliveryLimit: options.deliveryLimit,
  }
}

/** The delay queue a failure of delivery number `attempt` waits in. */
export function delayQueueFor(
  topology: Topology,
  attempt: number,
  baseMs: number,
  maxMs: number,
): { queue: string; ceilingMs: number } {
  const ceilingMs = backoffCeilingMs(attempt, baseMs, maxMs)
  const queue = topology.delays.get(ceilingMs)
  if (!queue) throw new Error(`[rabbitmq] no delay queue for attempt ${attempt}`)
  return { queue, ceilingMs }
}

const atLeastOnceDeadLettering = (target: string) => ({
  'x-dead-letter-exchange': '',
  'x-dead-letter-routing-key': target,
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
})

export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  await channel.assertQueue(topology.dead, {
    durable: true,
    arguments: { 'x-queue-type': 'classic' },
  })
  await channel.assertQueue(topology.main, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': topology.deliveryLimit,
      ...atLeastOnceDeadLettering(topology.dead),
    },
  })
  for (const [ceiling, queue] of topology.delays) {
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': ceiling,
        ...atLeastOnceDeadLettering(topology.main),
      },
    })
  }
}
