import type { Logger } from 'pino'
import type { QueueConfig } from '../config/schema.js'
import { createRabbitQueue } from './drivers/rabbitmq.js'
import { createSqliteQueue } from './drivers/sqlite.js'
import { createSqsQueue } from './drivers/sqs.js'
import type { QueueDriver } from './queue.js'

/** How this process uses the queue: brokers that push deliveries must not prefetch for a process that never claims. */
export interface QueueUse {
  consume: boolean
  /** Jobs this process works on at once (its worker concurrency); a push broker's prefetch follows from it. */
  slots: number
  /** Where broker outages are logged (the consumer side logs its own in the worker). */
  logger?: Logger
}

/**
 * Deliveries a push broker may hold for a process with `slots` job slots: one waiting per slot.
 * A quorum queue pushes the next delivery only once an ack has gone through its log, so with one
 * delivery per slot each slot sat idle for that round trip between two jobs: no-op jobs went at
 * 0.6–0.7× BullMQ, and at 1.05–1.2× with one waiting (bench/RESULTS.md, 2026-12-07 afternoon). The
 * price: a waiting job stays with this process until one of its slots frees.
 */
export const prefetchFor = (slots: number) => 2 * slots

/** Async because the SQS driver imports the AWS SDK lazily (amqplib is imported on connect). */
export async function createQueue(config: QueueConfig, use: QueueUse): Promise<QueueDriver> {
  switch (config.driver) {
    case 'sqlite':
      return createSqliteQueue(config)
    case 'rabbitmq':
      return createRabbitQueue({
        ...config,
        prefetch: config.prefetch ?? prefetchFor(use.slots),
        consume: use.consume,
        logger: use.logger,
      })
    case 'sqs':
      return createSqsQueue(config)
  }
}
