import type { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import type { ServiceAccount } from 'kubernetes-models/v1'
import { WORKER_SLOTS_PER_REPLICA } from '../../scaling.js'
import { common, httpService, ingress } from './objects.js'
import { container, deployment, podSpec } from './pod.js'
import { labels, type Model, meta } from './shared.js'
import { workerScaling } from './worker-scaling.js'

/**
 * api, worker and relay Deployments (on AWS: SQS, S3 and IAM roles for service accounts), an HPA
 * on CPU for the API and KEDA on backlog per worker for the workers.
 */
export function scaled(aws: boolean): Model<unknown>[] {
  return [
    ...serviceAccount(aws),
    ...deployments(sharedEnv(aws)),
    httpService('api'),
    ingress('api'),
    ...disruptionBudgets(),
    apiAutoscaler(),
    ...workerScaling(aws),
  ]
}

function sharedEnv(aws: boolean): Record<string, string> {
  // Engines: RabbitMQ, or SQS on AWS; S3 (credentials from the Secret, or the pod's IAM role).
  const engines: Record<string, string> = aws
    ? {
        PIXELFLOW_QUEUE_DRIVER: 'sqs',
        PIXELFLOW_SQS_REGION: 'eu-west-1',
        PIXELFLOW_STORAGE_DRIVER: 's3',
        PIXELFLOW_S3_REGION: 'eu-west-1',
        PIXELFLOW_S3_BUCKET: 'pixelflow-images',
      }
    : {
        PIXELFLOW_QUEUE_DRIVER: 'rabbitmq',
        PIXELFLOW_RABBITMQ_QUEUE: 'pixelflow.process-image',
        PIXELFLOW_STORAGE_DRIVER: 's3',
        PIXELFLOW_S3_BUCKET: 'pixelflow',
      }
  return {
    ...engines,
    PIXELFLOW_PUBLIC_URL: 'https://pixelflow.example.com',
    PIXELFLOW_LOG_LEVEL: 'info',
  }
}

/** The namespace and the service account, annotated with an IAM role on AWS. */
function serviceAccount(aws: boolean): Model<unknown>[] {
  const objects = common('pixelflow')
  if (aws) {
    const account = objects[1] as ServiceAccount
    account.metadata!.annotations = {
      // IAM roles for service accounts: the role of deploy/aws's task role, or one like it.
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/pixelflow',
    }
  }
  return objects
}

function deployments(shared: Record<string, string>): Deployment[] {
  const api = container(
    'api',
    { ...shared, PIXELFLOW_RELAY_ENABLED: 'false', PIXELFLOW_TRUST_PROXY: 'true' },
    { requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    { preStopSeconds: 5 },
  )
  const worker = container(
    'worker',
    { ...shared, PIXELFLOW_WORKER_CONCURRENCY: String(WORKER_SLOTS_PER_REPLICA) },
    {
      // One slot per core: requests = limits = the slots, so a slot is a whole core.
      requests: { cpu: String(WORKER_SLOTS_PER_REPLICA), memory: '1Gi' },
      limits: { cpu: String(WORKER_SLOTS_PER_REPLICA), memory: '1536Mi' },
    },
  )
  const relay = container('relay', shared, {
    requests: { cpu: '100m', memory: '128Mi' },
    limits: { cpu: '500m', memory: '256Mi' },
  })
  return [
    deployment('api', 'api', podSpec([api])),
    deployment('worker', 'worker', podSpec([worker])),
    deployment('relay', 'relay', podSpec([relay]), { replicas: 1 }),
  ]
}

function disruptionBudgets(): PodDisruptionBudget[] {
  return [
    new PodDisruptionBudget({
      metadata: meta('api', 'api'),
      spec: { minAvailable: 1, selector: { matchLabels: labels('api') } },
    }),
    new PodDisruptionBudget({
      metadata: meta('worker', 'worker'),
      spec: { maxUnavailable: 1, selector: { matchLabels: labels('worker') } },
    }),
  ]
}

function apiAutoscaler(): HorizontalPodAutoscaler {
  return new HorizontalPodAutoscaler({
    metadata: meta('api', 'api'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  })
}
