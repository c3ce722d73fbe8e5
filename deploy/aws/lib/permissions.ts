import { Stack } from 'aws-cdk-lib'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type { Construct, IConstruct } from 'constructs'
import { ack } from './nag.js'
import type { Queues } from './queue.js'
import type { Tasks } from './tasks.js'

export interface PermissionsProps {
  readonly tasks: Tasks
  readonly bucket: s3.Bucket
  readonly queues: Queues
}

/**
 * Least privilege per role: the API reads, writes and deletes objects and reads queue stats; the
 * relay publishes; workers consume, republish retries and dead-letter.
 */
export function grantTaskAccess(scope: Construct, props: PermissionsProps): void {
  const { bucket, queues } = props
  const { api, worker, relay } = props.tasks
  bucket.grantRead(api.taskRole)
  bucket.grantPut(api.taskRole)
  bucket.grantDelete(api.taskRole)
  bucket.grantRead(worker.taskRole)
  bucket.grantPut(worker.taskRole)
  for (const definition of [api, relay, worker]) {
    queues.queue.grant(definition.taskRole, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl')
    queues.deadLetterQueue.grant(definition.taskRole, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl')
  }
  queues.queue.grantSendMessages(relay.taskRole)
  queues.queue.grantConsumeMessages(worker.taskRole)
  queues.queue.grantSendMessages(worker.taskRole)
  queues.deadLetterQueue.grantSendMessages(worker.taskRole)
  acknowledgeGrants(scope, props)
}

/** The cdk-nag findings the grants above raise, each with why it is acceptable. */
function acknowledgeGrants(scope: Construct, props: PermissionsProps): void {
  const { api, worker, relay } = props.tasks
  const stack = Stack.of(scope)
  const bucketId = stack.resolve(stack.getLogicalId(props.bucket.node.defaultChild as s3.CfnBucket))
  for (const definition of [api, worker]) acknowledgeBucketGrants(definition.taskRole, bucketId)
  ack(
    api.taskRole,
    'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
    'Deleting an image deletes its original and variants in this bucket only.',
  )
  for (const definition of [api, worker, relay]) {
    ack(
      definition,
      'AwsSolutions-ECS2',
      'Only non-secret settings are plain environment variables; connection strings come from Secrets Manager.',
    )
  }
}

function acknowledgeBucketGrants(role: IConstruct, bucketId: string): void {
  ack(
    role,
    'AwsSolutions-IAM5[Action::s3:Abort*]',
    'aws-cdk grantPut: aborting the multipart uploads the streaming S3 driver starts, in this bucket only.',
  )
  ack(
    role,
    `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
    'Object keys are per image and variant: the grant is every key of this one bucket, nothing else.',
  )
  ack(
    role,
    'AwsSolutions-IAM5[Action::s3:GetObject*]',
    'aws-cdk grantRead: GetObject and its attribute/version reads on this bucket only (range reads, HEAD).',
  )
  ack(
    role,
    'AwsSolutions-IAM5[Action::s3:GetBucket*]',
    'aws-cdk grantRead: bucket location/attributes of this bucket only, needed by the SDK.',
  )
  ack(
    role,
    'AwsSolutions-IAM5[Action::s3:List*]',
    'aws-cdk grantRead: listing this bucket only (deleting an image lists its variants).',
  )
}
