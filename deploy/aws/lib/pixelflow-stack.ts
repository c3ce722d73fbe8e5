import {
  Duration,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib'
import {
  CfnScalingPolicy,
  ScalableTarget,
  ServiceNamespace,
} from 'aws-cdk-lib/aws-applicationautoscaling'
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront'
import { LoadBalancerV2Origin } from 'aws-cdk-lib/aws-cloudfront-origins'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as elasticache from 'aws-cdk-lib/aws-elasticache'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import * as kms from 'aws-cdk-lib/aws-kms'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as rds from 'aws-cdk-lib/aws-rds'
import * as s3 from 'aws-cdk-lib/aws-s3'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as sns from 'aws-cdk-lib/aws-sns'
import * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct, IConstruct } from 'constructs'
import {
  BACKLOG_PER_WORKER_METRIC_MATH,
  BACKLOG_PER_WORKER_TARGET,
  MAX_UPLOAD_BYTES,
  QUEUE_LEASE_MS,
  QUEUE_MAX_ATTEMPTS,
  SHUTDOWN_GRACE_MS,
  TERMINATION_GRACE_SECONDS,
  WORKER_SLOTS_PER_REPLICA,
} from '../../scaling.js'

export interface PixelflowStackProps extends StackProps {
  /** The container image (built from the repository's Dockerfile and pushed to a registry). */
  readonly image?: string
  /** Metadata shards: one RDS PostgreSQL instance each (plus one for the control database). */
  readonly shards?: number
  /** Deliveries before a job is dead-lettered: PIXELFLOW_QUEUE_MAX_ATTEMPTS and the SQS maxReceiveCount. */
  readonly queueMaxAttempts?: number
  readonly api?: { minTasks?: number; maxTasks?: number; requestsPerTarget?: number }
  readonly workers?: { minTasks?: number; maxTasks?: number; backlogPerWorker?: number }
  readonly dbInstanceType?: string
  readonly cacheNodeType?: string
}

const PORT = 8080
const PG_USER = 'pixelflow'

/**
 * Pixelflow on AWS: CloudFront → ALB → API tasks (ECS Fargate), worker tasks scaled on backlog per
 * worker, a relay task; S3 for objects, SQS with a dead-letter queue, RDS PostgreSQL shards,
 * ElastiCache Redis, Secrets Manager. docs/deploy.md walks through it.
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

    // ── Network: public subnets for the ALB, private ones for tasks, isolated ones for data.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
    })
    const dataSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
    const appSg = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc,
      description: 'Pixelflow tasks',
    })
    const dataSg = new ec2.SecurityGroup(this, 'DataSecurityGroup', {
      vpc,
      description: 'PostgreSQL and Redis, reachable from Pixelflow tasks only',
      allowAllOutbound: false,
    })
    dataSg.addIngressRule(appSg, ec2.Port.tcp(5432), 'PostgreSQL from tasks')
    dataSg.addIngressRule(appSg, ec2.Port.tcp(6379), 'Redis from tasks')

    // ── Logs bucket (ALB, CloudFront, S3 access logs).
    const logsBucket = new s3.Bucket(this, 'LogsBucket', {
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

    // ── Objects: originals and variants.
    this.bucket = new s3.Bucket(this, 'Objects', {
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

    // ── Queue: SQS with a dead-letter queue after the same number of deliveries as the driver.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    })
    this.queue = new sqs.Queue(this, 'Jobs', {
      visibilityTimeout: Duration.millis(QUEUE_LEASE_MS),
      retentionPeriod: Duration.days(14),
      receiveMessageWaitTime: Duration.seconds(20),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: maxAttempts },
    })

    // ── PostgreSQL: a control database and one instance per shard, credentials in Secrets Manager.
    const database = (name: string, dbName: string) => {
      // One generated master secret per instance (a secret attaches to one instance only).
      const dbSecret = new secretsmanager.Secret(this, `${name}Credentials`, {
        description: `Pixelflow PostgreSQL master user of ${dbName}`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: PG_USER }),
          generateStringKey: 'password',
          // The password goes into postgres:// URLs: no character that would need escaping.
          excludePunctuation: true,
          passwordLength: 32,
        },
      })
      ack(dbSecret, 'AwsSolutions-SMG4', ROTATION_REASON)
      const instance = new rds.DatabaseInstance(this, name, {
        engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
        instanceType: new ec2.InstanceType(props.dbInstanceType ?? 'm7g.large'),
        vpc,
        vpcSubnets: dataSubnets,
        securityGroups: [dataSg],
        credentials: rds.Credentials.fromSecret(dbSecret),
        databaseName: dbName,
        multiAz: true,
        storageEncrypted: true,
        allocatedStorage: 100,
        maxAllocatedStorage: 1000,
        deletionProtection: true,
        backupRetention: Duration.days(7),
        enablePerformanceInsights: true,
        cloudwatchLogsExports: ['postgresql'],
        iamAuthentication: false,
        removalPolicy: RemovalPolicy.SNAPSHOT,
      })
      ack(
        instance,
        'AwsSolutions-RDS11',
        'The default port 5432 is reachable only from the task security group.',
      )
      return `postgres://${PG_USER}:${dbSecret.secretValueFromJson('password').unsafeUnwrap()}@${instance.dbInstanceEndpointAddress}:5432/${dbName}?sslmode=no-verify`
    }
    const controlUrl = database('ControlDatabase', 'pixelflow_control')
    const shardUrls = Array.from({ length: shards }, (_, i) =>
      database(`Shard${i}`, `pixelflow_shard_${i}`),
    )

    // ── Redis: rate limits and the metadata cache, TLS and AUTH.
    const redisAuth = new secretsmanager.Secret(this, 'RedisAuth', {
      description: 'Pixelflow Redis AUTH token',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    })
    ack(redisAuth, 'AwsSolutions-SMG4', ROTATION_REASON)
    const redisSubnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: 'Pixelflow Redis',
      subnetIds: vpc.selectSubnets(dataSubnets).subnetIds,
    })
    const redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'Pixelflow rate limits and metadata cache',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: props.cacheNodeType ?? 'cache.t4g.medium',
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      authToken: redisAuth.secretValue.unsafeUnwrap(),
      cacheSubnetGroupName: redisSubnets.ref,
      securityGroupIds: [dataSg.securityGroupId],
      port: 6379,
    })
    ack(
      redis,
      'AwsSolutions-AEC5',
      'The default port 6379 is reachable only from the task security group.',
    )

    // ── One secret with every connection string the tasks read (ECS injects them as variables).
    const signingKeys = new secretsmanager.Secret(this, 'UrlSigningKey', {
      description: 'Pixelflow URL signing key (kid:secret)',
      generateSecretString: { excludePunctuation: true, passwordLength: 48 },
    })
    ack(
      signingKeys,
      'AwsSolutions-SMG4',
      'Rotated by hand: the new key is listed first next to the old one (README, private images).',
    )
    const connections = new secretsmanager.Secret(this, 'Connections', {
      description: 'Pixelflow connection strings, composed from the generated credentials',
      secretObjectValue: {
        PIXELFLOW_CONTROL_DB: SecretValue.unsafePlainText(controlUrl),
        PIXELFLOW_SHARDS: SecretValue.unsafePlainText(shardUrls.join(',')),
        PIXELFLOW_REDIS_URL: SecretValue.unsafePlainText(
          `rediss://:${redisAuth.secretValue.unsafeUnwrap()}@${redis.attrPrimaryEndPointAddress}:6379`,
        ),
        PIXELFLOW_URL_SIGNING_KEYS: SecretValue.unsafePlainText(
          `k1:${signingKeys.secretValue.unsafeUnwrap()}`,
        ),
      },
    })
    ack(
      connections,
      'AwsSolutions-SMG4',
      'Derived from the other secrets: it is recomposed on deploy when they change.',
    )

    // ── ECS: one cluster, Container Insights (RunningTaskCount feeds the worker scaling).
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    })
    const environment = {
      PIXELFLOW_QUEUE_DRIVER: 'sqs',
      PIXELFLOW_SQS_QUEUE_URL: this.queue.queueUrl,
      PIXELFLOW_SQS_DEAD_QUEUE_URL: this.deadLetterQueue.queueUrl,
      PIXELFLOW_SQS_REGION: this.region,
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(maxAttempts),
      PIXELFLOW_QUEUE_LEASE_MS: String(QUEUE_LEASE_MS),
      PIXELFLOW_STORAGE_DRIVER: 's3',
      PIXELFLOW_S3_BUCKET: this.bucket.bucketName,
      PIXELFLOW_S3_REGION: this.region,
      PIXELFLOW_SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      PIXELFLOW_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      PIXELFLOW_PORT: String(PORT),
    }
    const secrets = Object.fromEntries(
      [
        'PIXELFLOW_CONTROL_DB',
        'PIXELFLOW_SHARDS',
        'PIXELFLOW_REDIS_URL',
        'PIXELFLOW_URL_SIGNING_KEYS',
      ].map((key) => [key, ecs.Secret.fromSecretsManager(connections, key)]),
    )
    const task = (
      role: 'api' | 'worker' | 'relay',
      cpu: number,
      memoryLimitMiB: number,
      extra: Record<string, string>,
    ) => {
      const definition = new ecs.FargateTaskDefinition(this, `${cap(role)}Task`, {
        cpu,
        memoryLimitMiB,
        runtimePlatform: {
          cpuArchitecture: ecs.CpuArchitecture.X86_64,
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        },
        volumes: [{ name: 'tmp' }],
      })
      const container = definition.addContainer(role, {
        image: ecs.ContainerImage.fromRegistry(image),
        command: ['node', 'dist/start/main.js', role],
        environment: { ...environment, ...extra },
        secrets,
        portMappings: [{ containerPort: PORT, name: 'http' }],
        readonlyRootFilesystem: true,
        // Fargate's maximum is 120 s: above the job grace plus the hard exit.
        stopTimeout: Duration.seconds(Math.min(120, TERMINATION_GRACE_SECONDS)),
        healthCheck: {
          command: [
            'CMD',
            'node',
            '-e',
            `fetch('http://127.0.0.1:${PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
          ],
          interval: Duration.seconds(15),
          timeout: Duration.seconds(5),
          startPeriod: Duration.seconds(30),
        },
        logging: ecs.LogDrivers.awsLogs({
          streamPrefix: role,
          logGroup: new logs.LogGroup(this, `${cap(role)}Logs`, {
            retention: logs.RetentionDays.ONE_MONTH,
            removalPolicy: RemovalPolicy.DESTROY,
          }),
        }),
      })
      container.addMountPoints({ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false })
      return definition
    }
    const service = (
      role: string,
      taskDefinition: ecs.FargateTaskDefinition,
      desiredCount?: number,
    ) =>
      new ecs.FargateService(this, `${cap(role)}Service`, {
        cluster,
        taskDefinition,
        // Autoscaled services leave the count out: a deploy must not reset what scaling chose.
        ...(desiredCount === undefined ? {} : { desiredCount }),
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
        circuitBreaker: { rollback: true },
        securityGroups: [appSg],
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        assignPublicIp: false,
      })

    const apiTask = task('api', 1024, 2048, {
      PIXELFLOW_RELAY_ENABLED: 'false',
      PIXELFLOW_TRUST_PROXY: 'true',
    })
    const workerTask = task(
      'worker',
      1024 * WORKER_SLOTS_PER_REPLICA,
      2048 * WORKER_SLOTS_PER_REPLICA,
      {
        PIXELFLOW_WORKER_CONCURRENCY: String(WORKER_SLOTS_PER_REPLICA),
      },
    )
    const relayTask = task('relay', 256, 512, {})
    const apiService = service('api', apiTask)
    const workerService = service('worker', workerTask)
    service('relay', relayTask, 1)

    // Least privilege per role: the API reads, writes and deletes objects and reads queue stats;
    // the relay publishes; workers consume, republish retries and dead-letter.
    this.bucket.grantRead(apiTask.taskRole)
    this.bucket.grantPut(apiTask.taskRole)
    this.bucket.grantDelete(apiTask.taskRole)
    this.bucket.grantRead(workerTask.taskRole)
    this.bucket.grantPut(workerTask.taskRole)
    for (const definition of [apiTask, relayTask, workerTask]) {
      this.queue.grant(definition.taskRole, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl')
      this.deadLetterQueue.grant(definition.taskRole, 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl')
    }
    this.queue.grantSendMessages(relayTask.taskRole)
    this.queue.grantConsumeMessages(workerTask.taskRole)
    this.queue.grantSendMessages(workerTask.taskRole)
    this.deadLetterQueue.grantSendMessages(workerTask.taskRole)
    const bucketId = this.resolve(this.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket))
    for (const definition of [apiTask, workerTask]) {
      ack(
        definition.taskRole,
        'AwsSolutions-IAM5[Action::s3:Abort*]',
        'aws-cdk grantPut: aborting the multipart uploads the streaming S3 driver starts, in this bucket only.',
      )
      ack(
        definition.taskRole,
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
        'Object keys are per image and variant: the grant is every key of this one bucket, nothing else.',
      )
      ack(
        definition.taskRole,
        'AwsSolutions-IAM5[Action::s3:GetObject*]',
        'aws-cdk grantRead: GetObject and its attribute/version reads on this bucket only (range reads, HEAD).',
      )
      ack(
        definition.taskRole,
        'AwsSolutions-IAM5[Action::s3:GetBucket*]',
        'aws-cdk grantRead: bucket location/attributes of this bucket only, needed by the SDK.',
      )
      ack(
        definition.taskRole,
        'AwsSolutions-IAM5[Action::s3:List*]',
        'aws-cdk grantRead: listing this bucket only (deleting an image lists its variants).',
      )
    }
    ack(
      apiTask.taskRole,
      'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
      'Deleting an image deletes its original and variants in this bucket only.',
    )
    for (const definition of [apiTask, workerTask, relayTask]) {
      ack(
        definition,
        'AwsSolutions-ECS2',
        'Only non-secret settings are plain environment variables; connection strings come from Secrets Manager.',
      )
    }

    // ── Load balancer, reachable only through CloudFront (a secret header, else 403).
    const albSg = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      description: 'Pixelflow ALB',
    })
    albSg.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(80),
      'CloudFront origin requests (checked by header)',
    )
    ack(
      albSg,
      'AwsSolutions-EC23',
      'CloudFront reaches the ALB from its own addresses; requests without the origin secret header get a 403.',
    )
    appSg.addIngressRule(albSg, ec2.Port.tcp(PORT), 'ALB to API tasks')
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      dropInvalidHeaderFields: true,
      idleTimeout: Duration.seconds(120),
    })
    // Access logs need the region's ELB log-delivery account: only for a stack with env.region.
    if (Token.isUnresolved(this.region))
      ack(
        alb,
        'AwsSolutions-ELB2',
        'Environment-agnostic synth has no region for ELB log delivery; a stack with env.region logs to the logs bucket.',
      )
    else alb.logAccessLogs(logsBucket, 'alb')
    const originSecret = new secretsmanager.Secret(this, 'OriginVerify', {
      description: 'Header value CloudFront sends to the ALB',
      generateSecretString: { excludePunctuation: true, passwordLength: 40 },
    })
    ack(originSecret, 'AwsSolutions-SMG4', ROTATION_REASON)
    const listener = alb.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      defaultAction: elbv2.ListenerAction.fixedResponse(403, {
        contentType: 'text/plain',
        messageBody: 'Forbidden',
      }),
    })
    const apiTargets = new elbv2.ApplicationTargetGroup(this, 'ApiTargets', {
      vpc,
      port: PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [apiService],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: { path: '/readyz', healthyHttpCodes: '200', interval: Duration.seconds(10) },
    })
    listener.addAction('FromCloudFront', {
      priority: 10,
      conditions: [
        elbv2.ListenerCondition.httpHeader('X-Origin-Verify', [
          originSecret.secretValue.unsafeUnwrap(),
        ]),
      ],
      action: elbv2.ListenerAction.forward([apiTargets]),
    })

    // ── CloudFront: /i/* cached by our Cache-Control, everything else passed through.
    const origin = new LoadBalancerV2Origin(alb, {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY,
      customHeaders: { 'X-Origin-Verify': originSecret.secretValue.unsafeUnwrap() },
      readTimeout: Duration.seconds(60),
    })
    const variants = new cloudfront.CachePolicy(this, 'VariantCache', {
      comment:
        'Pixelflow variants: the origin says public, max-age=31536000, immutable (private: not cached)',
      // Honour the origin: min 0 so `private` responses are not cached; max one year.
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.days(1),
      maxTtl: Duration.days(365),
      // The path names the image, variant and format; signed URLs of private images add these.
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.allowList('exp', 'kid', 'sig'),
      headerBehavior: cloudfront.CacheHeaderBehavior.none(),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      enableAcceptEncodingGzip: false,
      enableAcceptEncodingBrotli: false,
    })
    const distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: 'Pixelflow',
      defaultBehavior: {
        origin,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      },
      additionalBehaviors: {
        '/i/*': {
          origin,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
          cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
          cachePolicy: variants,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          compress: false,
        },
      },
      enableLogging: true,
      logBucket: logsBucket,
      logFilePrefix: 'cloudfront/',
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    })
    ack(
      distribution,
      'AwsSolutions-CFR1',
      'Images are served worldwide; add geo restrictions per deployment if needed.',
    )
    ack(
      distribution,
      'AwsSolutions-CFR2',
      'WAF is a per-deployment choice (cost, rules); attach a web ACL with webAclId.',
    )
    ack(
      distribution,
      'AwsSolutions-CFR4',
      'The default *.cloudfront.net certificate: set a domain and ACM certificate to enforce TLSv1.2_2021.',
    )
    ack(
      distribution,
      'AwsSolutions-CFR5',
      'The ALB has no certificate without a domain; the origin is reachable only with the secret header.',
    )
    // Links in responses point at CloudFront.
    for (const definition of [apiTask, workerTask, relayTask])
      definition.defaultContainer!.addEnvironment(
        'PIXELFLOW_PUBLIC_URL',
        `https://${distribution.distributionDomainName}`,
      )

    // ── Scaling. API: requests per target. Workers: backlog per worker (docs/deploy.md).
    const apiScaling = apiService.autoScaleTaskCount({
      minCapacity: props.api?.minTasks ?? 2,
      maxCapacity: props.api?.maxTasks ?? 20,
    })
    apiScaling.scaleOnRequestCount('RequestsPerTarget', {
      requestsPerTarget: props.api?.requestsPerTarget ?? 500,
      targetGroup: apiTargets,
      scaleInCooldown: Duration.seconds(300),
      scaleOutCooldown: Duration.seconds(60),
    })
    const workerScaling = new ScalableTarget(this, 'WorkerScaling', {
      serviceNamespace: ServiceNamespace.ECS,
      resourceId: `service/${cluster.clusterName}/${workerService.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      // At least one task: with none, RunningTaskCount is 0 and the ratio has no value.
      minCapacity: Math.max(1, props.workers?.minTasks ?? 1),
      maxCapacity: props.workers?.maxTasks ?? 50,
    })
    // Target tracking on metric math needs the L1 policy (aws-cdk#20659).
    new CfnScalingPolicy(this, 'WorkerBacklogPerWorker', {
      policyName: 'pixelflow-backlog-per-worker',
      policyType: 'TargetTrackingScaling',
      scalingTargetId: workerScaling.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.workers?.backlogPerWorker ?? BACKLOG_PER_WORKER_TARGET,
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'm1',
              label: 'jobs waiting',
              metricStat: {
                metric: {
                  namespace: 'AWS/SQS',
                  metricName: 'ApproximateNumberOfMessagesVisible',
                  dimensions: [{ name: 'QueueName', value: this.queue.queueName }],
                },
                stat: 'Sum',
              },
              returnData: false,
            },
            {
              id: 'm2',
              label: 'running worker tasks',
              metricStat: {
                metric: {
                  namespace: 'ECS/ContainerInsights',
                  metricName: 'RunningTaskCount',
                  dimensions: [
                    { name: 'ClusterName', value: cluster.clusterName },
                    { name: 'ServiceName', value: workerService.serviceName },
                  ],
                },
                stat: 'Average',
              },
              returnData: false,
            },
            {
              id: 'e1',
              label: 'backlog per worker',
              expression: BACKLOG_PER_WORKER_METRIC_MATH,
              returnData: true,
            },
          ],
        },
      },
    })

    // ── Alarms → an SNS topic for the operator.
    const topic = new sns.Topic(this, 'Alarms', {
      enforceSSL: true,
      masterKey: kms.Alias.fromAliasName(this, 'SnsKey', 'alias/aws/sns'),
    })
    const notify = new SnsAction(topic)
    const alarm = (name: string, props: cloudwatch.AlarmProps) =>
      new cloudwatch.Alarm(this, name, props).addAlarmAction(notify)
    alarm('DeadLetters', {
      alarmDescription: 'Jobs were dead-lettered: pixelflow dead list / dead redrive',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
    alarm('OldestJob', {
      alarmDescription:
        'A job has waited over 5 minutes: workers are not keeping up (or are at their maximum)',
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 300,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
    alarm('Api5xxRate', {
      alarmDescription: 'Over 1% of API responses are 5xx',
      metric: new cloudwatch.MathExpression({
        label: '5xx %',
        expression: '100 * (e5 + t5) / MAX([requests, 1])',
        usingMetrics: {
          e5: alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { statistic: 'Sum' }),
          t5: apiTargets.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
            statistic: 'Sum',
          }),
          requests: alb.metrics.requestCount({ statistic: 'Sum' }),
        },
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
  }
}

const ROTATION_REASON =
  'Rotating it changes the composed connection strings; rotate by updating the secret and redeploying (docs/deploy.md).'

/** A cdk-nag finding acknowledged on one construct, with the reason in code. */
function ack(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason })
}

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1)
