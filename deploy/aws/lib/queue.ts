import { Duration } from 'aws-cdk-lib'
import * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { QUEUE_LEASE_MS } from '../../scaling.js'

export interface QueuesProps {
  /** Deliveries before a job is dead-lettered (the SQS maxReceiveCount). */
  readonly maxAttempts: number
}

export interface Queues {
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue
}

/**
 * SQS with a dead-letter queue after the same number of deliveries as the driver, created in
 * `scope` (the stack).
 */
export function addQueues(scope: Construct, props: QueuesProps): Queues {
  const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
    retentionPeriod: Duration.days(14),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
  })
  const queue = new sqs.Queue(scope, 'Jobs', {
    visibilityTimeout: Duration.millis(QUEUE_LEASE_MS),
    retentionPeriod: Duration.days(14),
    receiveMessageWaitTime: Duration.seconds(20),
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: props.maxAttempts },
  })
  return { queue, deadLetterQueue }
}
