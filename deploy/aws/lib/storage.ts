import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as s3 from 'aws-cdk-lib/aws-s3'
import type { Construct } from 'constructs'
import { ack } from './nag.js'

export interface Storage {
  /** ALB, CloudFront and S3 access logs. */
  readonly logsBucket: s3.Bucket
  /** Originals and variants. */
  readonly bucket: s3.Bucket
}

/** The logs bucket and the objects bucket, created in `scope` (the stack). */
export function addStorage(scope: Construct): Storage {
  const logsBucket = new s3.Bucket(scope, 'LogsBucket', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    // CloudFront standard logs write with ACLs.
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  })
  ack(
    logsBucket,
    'AwsSolutions-S1',
    'This is the access-log bucket; logging it into itself would loop.',
  )
  const bucket = new s3.Bucket(scope, 'Objects', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    versioned: false,
    serverAccessLogsBucket: logsBucket,
    serverAccessLogsPrefix: 's3/',
    // A streamed upload that died leaves parts behind: drop them after a day.
    lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    removalPolicy: RemovalPolicy.RETAIN,
  })
  return { logsBucket, bucket }
}
