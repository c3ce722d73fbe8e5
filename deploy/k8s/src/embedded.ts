import { PersistentVolumeClaim } from 'kubernetes-models/v1'
import { common, httpService, ingress } from './objects.js'
import { container, deployment, podSpec } from './pod.js'
import { type Model, meta } from './shared.js'

/** One `serve` replica on a PersistentVolumeClaim (SQLite shards and queue, local objects). */
export function embedded(): Model<unknown>[] {
  const pvc = new PersistentVolumeClaim({
    metadata: meta('pixelflow-data', 'serve'),
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '50Gi' } } },
  })
  const serve = container(
    'serve',
    {
      PIXELFLOW_DATA_DIR: '/data',
      PIXELFLOW_PUBLIC_URL: 'https://pixelflow.example.com',
      PIXELFLOW_TRUST_PROXY: 'true',
      PIXELFLOW_WORKER_CONCURRENCY: '2',
    },
    { requests: { cpu: '2', memory: '1Gi' }, limits: { cpu: '4', memory: '2Gi' } },
    { preStopSeconds: 5, secrets: false },
  )
  serve.volumeMounts = [...(serve.volumeMounts ?? []), { name: 'data', mountPath: '/data' }]
  return [
    ...common('serve'),
    pvc,
    // One writer of the SQLite files: never two pods at once, so Recreate, not a rolling update.
    deployment(
      'pixelflow',
      'serve',
      podSpec([serve], {
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'pixelflow-data' } }],
      }),
      { replicas: 1, recreate: true },
    ),
    httpService('serve'),
    ingress('pixelflow'),
  ]
}
