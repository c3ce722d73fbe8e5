import type { QueueConfig } from '../config/schema.js'
import { createRabbitQueue } from './drivers/rabbitmq.js'
import { createSqliteQueue } from './drivers/sqlite.js'
import { createSqsQueue } from './drivers/sqs.js'
import type { QueueDriver } from './queue.js'

/** Async because the SQS driver imports the AWS SDK lazily (amqplib is imported on connect). */
export async function createQueue(config: QueueConfig): Promise<QueueDriver> {
  switch (config.driver) {
    case 'sqlite':
      return createSqliteQueue(config)
    case 'rabbitmq':
      return createRabbitQueue(config)
    case 'sqs':
      return createSqsQueue(config)
  }
}
