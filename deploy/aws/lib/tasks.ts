import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import {
  MAX_UPLOAD_BYTES,
  QUEUE_LEASE_MS,
  SHUTDOWN_GRACE_MS,
  TERMINATION_GRACE_SECONDS,
  WORKER_SLOTS_PER_REPLICA,
} from '../../scaling.js'
import type { Queues } from './queue.js'

/** The port every task listens on (the ALB target port). */
export const PORT = 8080

export type Role = 'api' | 'worker' | 'relay'

export interface TasksProps {
  /** The container image (built from the repository's Dockerfile and pushed to a registry). */
  readonly image: string
  readonly maxAttempts: number
  readonly queues: Queues
  readonly bucket: s3.IBucket
  /** The secret with every connection string (see data.ts). */
  readonly connections: secretsmanager.ISecret
}

export type Tasks = Record<Role, ecs.FargateTaskDefinition>

/** The three task definitions, created in `scope` (the stack): api, worker, relay. */
export function addTasks(scope: Construct, props: TasksProps): Tasks {
  const container: ContainerSettings = {
    image: props.image,
    environment: environment(scope, props),
    secrets: connectionSecrets(props.connections),
  }
  const api = addTask(scope, 'api', container, 1024, 2048, {
    PIXELFLOW_RELAY_ENABLED: 'false',
    PIXELFLOW_TRUST_PROXY: 'true',
  })
  const worker = addTask(
    scope,
    'worker',
    container,
    1024 * WORKER_SLOTS_PER_REPLICA,
    2048 * WORKER_SLOTS_PER_REPLICA,
    { PIXELFLOW_WORKER_CONCURRENCY: String(WORKER_SLOTS_PER_REPLICA) },
  )
  const relay = addTask(scope, 'relay', container, 256, 512, {})
  return { api, worker, relay }
}

interface ContainerSettings {
  readonly image: string
  readonly environment: Record<string, string>
  readonly secrets: Record<string, ecs.Secret>
}

/** The non-secret settings every role shares. */
function environment(scope: Construct, props: TasksProps): Record<string, string> {
  const { region } = Stack.of(scope)
  return {
    PIXELFLOW_QUEUE_DRIVER: 'sqs',
    PIXELFLOW_SQS_QUEUE_URL: props.queues.queue.queueUrl,
    PIXELFLOW_SQS_DEAD_QUEUE_URL: props.queues.deadLetterQueue.queueUrl,
    PIXELFLOW_SQS_REGION: region,
    PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(props.maxAttempts),
    PIXELFLOW_QUEUE_LEASE_MS: String(QUEUE_LEASE_MS),
    PIXELFLOW_STORAGE_DRIVER: 's3',
    PIXELFLOW_S3_BUCKET: props.bucket.bucketName,
    PIXELFLOW_S3_REGION: region,
    PIXELFLOW_SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
    PIXELFLOW_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    PIXELFLOW_PORT: String(PORT),
  }
}

/** Connection strings and keys, injected from Secrets Manager as variables. */
function connectionSecrets(connections: secretsmanager.ISecret): Record<string, ecs.Secret> {
  return Object.fromEntries(
    [
      'PIXELFLOW_CONTROL_DB',
      'PIXELFLOW_SHARDS',
      'PIXELFLOW_REDIS_URL',
      'PIXELFLOW_URL_SIGNING_KEYS',
    ].map((key) => [key, ecs.Secret.fromSecretsManager(connections, key)]),
  )
}

function addTask(
  scope: Construct,
  role: Role,
  settings: ContainerSettings,
  cpu: number,
  memoryLimitMiB: number,
  extra: Record<string, string>,
): ecs.FargateTaskDefinition {
  const definition = new ecs.FargateTaskDefinition(scope, `${cap(role)}Task`, {
    cpu,
    memoryLimitMiB,
    runtimePlatform: {
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
    volumes: [{ name: 'tmp' }],
  })
  const container = definition.addContainer(role, {
    image: ecs.ContainerImage.fromRegistry(settings.image),
    command: ['node', 'dist/start/main.js', role],
    environment: { ...settings.environment, ...extra },
    secrets: settings.secrets,
    portMappings: [{ containerPort: PORT, name: 'http' }],
    readonlyRootFilesystem: true,
    // Fargate's maximum is 120 s: above the job grace plus the hard exit.
    stopTimeout: Duration.seconds(Math.min(120, TERMINATION_GRACE_SECONDS)),
    healthCheck: healthCheck(),
    logging: ecs.LogDrivers.awsLogs({
      streamPrefix: role,
      logGroup: new logs.LogGroup(scope, `${cap(role)}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    }),
  })
  container.addMountPoints({ sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false })
  return definition
}

/** The container health check: GET /healthz from inside the task. */
const healthCheck = (): ecs.HealthCheck => ({
  command: [
    'CMD',
    'node',
    '-e',
    `fetch('http://127.0.0.1:${PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
  ],
  interval: Duration.seconds(15),
  timeout: Duration.seconds(5),
  startPeriod: Duration.seconds(30),
})

export const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1)
