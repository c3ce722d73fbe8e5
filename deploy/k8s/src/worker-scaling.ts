import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1'
import {
  BACKLOG_PER_WORKER_TARGET,
  backlogPerWorkerPromQL,
  WORKER_SLOTS_PER_REPLICA,
} from '../../scaling.js'
import { type Model, meta, NAMESPACE } from './shared.js'

/** Where KEDA reaches Prometheus (kube-prometheus-stack's default service). */
export const PROMETHEUS_URL = 'http://prometheus-operated.monitoring.svc:9090'

/** KEDA owns the worker's HPA: backlog per worker, kept near BACKLOG_PER_WORKER_TARGET. */
export function workerScaling(aws: boolean): Model<unknown>[] {
  return aws ? sqsScaling() : [prometheusScaling()]
}

const base = () => ({
  scaleTargetRef: { name: 'worker' },
  pollingInterval: 15,
  cooldownPeriod: 300,
  minReplicaCount: 1,
  maxReplicaCount: 20,
  advanced: {
    horizontalPodAutoscalerConfig: {
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 0 },
        scaleDown: { stabilizationWindowSeconds: 300 },
      },
    },
  },
})

function prometheusScaling(): ScaledObject {
  return new ScaledObject({
    metadata: meta('worker', 'worker'),
    spec: {
      ...base(),
      triggers: [
        {
          // Value: the HPA scales in proportion, desired = current × backlog per worker ÷ target.
          type: 'prometheus',
          metricType: 'Value',
          metadata: {
            serverAddress: PROMETHEUS_URL,
            query: backlogPerWorkerPromQL(NAMESPACE),
            threshold: String(BACKLOG_PER_WORKER_TARGET),
            activationThreshold: '0',
          },
        },
      ],
    },
  })
}

function sqsScaling(): Model<unknown>[] {
  return [
    new TriggerAuthentication({
      metadata: meta('worker-aws', 'worker'),
      // KEDA ≥ 2.13 reads SQS with its own IAM role (IRSA on the keda-operator service account).
      spec: { podIdentity: { provider: 'aws' } },
    }),
    new ScaledObject({
      metadata: meta('worker', 'worker'),
      spec: {
        ...base(),
        triggers: [
          {
            // AverageValue: desired = visible messages ÷ queueLength, and queueLength is the target
            // backlog per worker times the slots of one replica: the same definition.
            type: 'aws-sqs-queue',
            metricType: 'AverageValue',
            authenticationRef: { name: 'worker-aws' },
            metadata: {
              queueURL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/pixelflow-jobs',
              awsRegion: 'eu-west-1',
              queueLength: String(BACKLOG_PER_WORKER_TARGET * WORKER_SLOTS_PER_REPLICA),
              activationQueueLength: '0',
              // Jobs waiting only: in-flight ones already have a slot.
              scaleOnInFlight: 'false',
            },
          },
        ],
      },
    }),
  ]
}
