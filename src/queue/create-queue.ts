import type { Logger } from 'pino'
import type { QueueConfig } from '../config/schema.js'
import { createRabbitQueue } from './drivers/rabbitmq.js'
import { createSqliteQueue } from './drivers/sqlite.js'
import { createSqsQueue } from './drivers/sqs.js'
import type { QueueDriver } from './queue.js'

/**
 * Deliveries a push broker (RabbitMQ) may hold for a worker with `slots` job slots: twice them, so
 * the next job is already here when a slot frees, instead of one quorum-queue ack round trip
 * later (docs/operations.md, "RabbitMQ prefetch"). Safe since the worker counts a crash only
 * against jobs that started (run-worker.ts, countedAttempts).
 */
export const prefetchFor = (slots: number): number => 2 * slots

/** How this process uses the queue: brokers that push deliveries must not prefetch for a process that never claims. */
export interface QueueUse {
  consume: boolean
  /** Deliveries a push broker may hand this process ahead of its claims: prefetchFor(its slots). */
  prefetch: number
  /** Where broker outages are logged (the consumer side logs its own in the worker). */
  logger?: Logger
}

/** Async because the SQS driver imports the AWS SDK lazily (amqplib is imported on connect). */
export async function createQueue(config: QueueConfig, use: QueueUse): Promise<QueueDriver> {
  switch (config.driver) {
    case 'sqlite':
      return createSqliteQueue(config)
    case 'rabbitmq':
      return createRabbitQueue({
        ...config,
        prefetch: config.prefetch ?? use.prefetch,
        consume: use.consume,
        logger: use.logger,
      })
    case 'sqs':
      return createSqsQueue(config)
  }
}
