/** Containers, pods and Deployments of our image, hardened the same way for every role. */

import { Deployment } from 'kubernetes-models/apps/v1'
import type { IContainer, IEnvVar, IPodSpec } from 'kubernetes-models/v1'
import {
  MAX_UPLOAD_BYTES,
  QUEUE_LEASE_MS,
  QUEUE_MAX_ATTEMPTS,
  SHUTDOWN_GRACE_MS,
  TERMINATION_GRACE_SECONDS,
} from '../../scaling.js'
import { IMAGE, labels, METRICS_PORT, meta, PORT, SECRET } from './shared.js'

function env(values: Record<string, string>): IEnvVar[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }))
}

/** One container of our image: probes, limits, a read-only root with /tmp, no privileges. */
export function container(
  role: string,
  extraEnv: Record<string, string>,
  resources: IContainer['resources'],
  options: { preStopSeconds?: number; secrets?: boolean } = {},
): IContainer {
  return {
    name: role === 'serve' ? 'pixelflow' : role,
    image: IMAGE,
    command: ['/usr/bin/tini', '--'],
    args: ['node', 'dist/start/main.js', role],
    ports: [
      { name: 'http', containerPort: PORT },
      { name: 'metrics', containerPort: METRICS_PORT },
    ],
    env: env({
      PIXELFLOW_PORT: String(PORT),
      PIXELFLOW_METRICS_PORT: String(METRICS_PORT),
      PIXELFLOW_SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      PIXELFLOW_QUEUE_LEASE_MS: String(QUEUE_LEASE_MS),
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: String(QUEUE_MAX_ATTEMPTS),
      PIXELFLOW_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      ...extraEnv,
    }),
    // Connection strings and keys: a Secret the operator creates (docs/deploy.md).
    ...(options.secrets === false ? {} : { envFrom: [{ secretRef: { name: SECRET } }] }),
    resources,
    ...probes(),
    // The load balancer stops sending before the process stops listening.
    ...(options.preStopSeconds
      ? { lifecycle: { preStop: { sleep: { seconds: options.preStopSeconds } } } }
      : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  }
}

/** Ready on /readyz; alive (and started) on /healthz. */
function probes(): Pick<IContainer, 'readinessProbe' | 'livenessProbe' | 'startupProbe'> {
  return {
    readinessProbe: {
      httpGet: { path: '/readyz', port: 'http' },
      periodSeconds: 5,
      failureThreshold: 3,
    },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 10,
      failureThreshold: 6,
    },
    startupProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 2,
      failureThreshold: 60,
    },
  }
}

export function podSpec(containers: IContainer[], extra: Partial<IPodSpec> = {}): IPodSpec {
  return {
    serviceAccountName: 'pixelflow',
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers,
    ...extra,
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } }, ...(extra.volumes ?? [])],
  }
}

export function deployment(
  name: string,
  component: string,
  spec: IPodSpec,
  options: { replicas?: number; recreate?: boolean } = {},
): Deployment {
  return new Deployment({
    metadata: meta(name, component),
    spec: {
      // Autoscaled Deployments leave replicas out: an apply must not reset what the HPA chose.
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      selector: { matchLabels: labels(component) },
      strategy: options.recreate
        ? { type: 'Recreate' }
        : { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(component),
          // Prometheus' kubernetes-pods job scrapes /metrics on the metrics port (KEDA's query
          // reads it); the HTTP port behind the Ingress does not serve metrics.
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(METRICS_PORT),
            'prometheus.io/path': '/metrics',
          },
        },
        spec,
      },
    },
  })
}
