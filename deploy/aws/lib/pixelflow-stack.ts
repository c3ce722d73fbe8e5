import { Stack, type StackProps } from 'aws-cdk-lib'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { QUEUE_MAX_ATTEMPTS } from '../../scaling.js'
import { addAlarms } from './alarms.js'
import { type ApiScalingOptions, addScaling, type WorkerScalingOptions } from './autoscaling.js'
import { addCdn, pointLinksAtCdn } from './cdn.js'
import { addData } from './data.js'
import { addLoadBalancer } from './load-balancer.js'
import { addNetwork } from './network.js'
import { grantTaskAccess } from './permissions.js'
import { addQueues } from './queue.js'
import { addServices } from './services.js'
import { addStorage } from './storage.js'

export interface PixelflowStackProps extends StackProps {
  /** The container image (built from the repository's Dockerfile and pushed to a registry). */
  readonly image?: string
  /** Metadata shards: one RDS PostgreSQL instance each (plus one for the control database). */
  readonly shards?: number
  /** Deliveries before a job is dead-lettered: PIXELFLOW_QUEUE_MAX_ATTEMPTS and the SQS maxReceiveCount. */
  readonly queueMaxAttempts?: number
  readonly api?: ApiScalingOptions
  readonly workers?: WorkerScalingOptions
  readonly dbInstanceType?: string
  readonly cacheNodeType?: string
}

/**
 * Pixelflow on AWS: CloudFront → ALB → API tasks (ECS Fargate), worker tasks scaled on backlog per
 * worker, a relay task; S3 for objects, SQS with a dead-letter queue, RDS PostgreSQL shards,
 * ElastiCache Redis, Secrets Manager. docs/deploy.md walks through it.
 *
 * Each part is a function that adds its resources to this stack directly (not to a nested
 * construct), in the order the single constructor used: the construct ids, and so the
 * CloudFormation logical ids of a deployed stack, stay what they were.
 */
export class PixelflowStack extends Stack {
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue
  readonly bucket: s3.Bucket

  constructor(scope: Construct, id: string, props: PixelflowStackProps = {}) {
    super(scope, id, props)
    const shards = props.shards ?? 2
    const maxAttempts = props.queueMaxAttempts ?? QUEUE_MAX_ATTEMPTS
    if (!Number.isInteger(shards) || shards < 1)
      throw new Error(`shards must be ≥ 1, not ${shards}`)
    const image = props.image ?? 'ghcr.io/example/pixelflow:0.1.0'

    const network = addNetwork(this)
    const { logsBucket, bucket } = addStorage(this)
    const queues = addQueues(this, { maxAttempts })
    this.bucket = bucket
    this.queue = queues.queue
    this.deadLetterQueue = queues.deadLetterQueue
    const { connections } = addData(this, {
      network,
      shards,
      dbInstanceType: props.dbInstanceType,
      cacheNodeType: props.cacheNodeType,
    })
    const services = addServices(this, { network, image, maxAttempts, queues, bucket, connections })
    const { tasks } = services
    grantTaskAccess(this, { tasks, bucket, queues })
    const { alb, apiTargets, originSecret } = addLoadBalancer(this, {
      network,
      logsBucket,
      apiService: services.apiService,
    })
    pointLinksAtCdn(tasks, addCdn(this, { alb, originSecret, logsBucket }))
    addScaling(this, {
      ...services,
      apiTargets,
      queue: queues.queue,
      api: props.api,
      workers: props.workers,
    })
    addAlarms(this, { queues, alb, apiTargets })
  }
}
