import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { Namespace, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import {
  kustomization,
  NAMESPACE,
  synthVariant,
  VARIANTS,
  type Variant,
} from '../../deploy/k8s/src/charts.js'
import {
  BACKLOG_PER_WORKER_TARGET,
  backlogPerWorkerPromQL,
  MAX_UPLOAD_BYTES,
  QUEUE_LEASE_MS,
  SHUTDOWN_GRACE_MS,
  SHUTDOWN_HARD_EXIT_MS,
  WORKER_SLOTS_PER_REPLICA,
} from '../../deploy/scaling.js'

/**
 * deploy/k8s: the committed YAML is what a fresh cdk8s synth writes, every object validates
 * against the Kubernetes 1.33 and KEDA schemas (kubernetes-models, offline), and the manifests
 * keep our rules (probes, limits, security context, graceful termination, scaling).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
type Obj = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> }
  [k: string]: any
}

/** apiVersion/kind → the schema that validates it; an object of any other kind fails the test. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
}

const committed = (variant: Variant, file: string) =>
  readFileSync(join(ROOT, 'deploy/k8s', variant, file), 'utf8')

function objects(variant: Variant): Obj[] {
  return parseAllDocuments(committed(variant, 'pixelflow.k8s.yaml')).map((d) => d.toJS() as Obj)
}
const find = (objs: Obj[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
const deployments = (objs: Obj[]) => find(objs, 'Deployment')
const envOf = (container: any): Record<string, string> =>
  Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]))

describe.each(VARIANTS)('deploy/k8s/%s', (variant) => {
  const objs = objects(variant)

  it('is what a fresh synth writes (run npx tsx deploy/k8s/src/main.ts after a change)', () => {
    expect(committed(variant, 'pixelflow.k8s.yaml')).toBe(synthVariant(variant))
    expect(committed(variant, 'kustomization.yaml')).toBe(kustomization(variant))
  })

  it('validates every object against the Kubernetes and KEDA schemas', () => {
    expect(objs.length).toBeGreaterThan(4)
    for (const obj of objs) {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`]
      expect(Model, `${obj.apiVersion} ${obj.kind} has a schema here`).toBeDefined()
      expect(() => new Model!(obj).validate(), `${obj.kind}/${obj.metadata.name}`).not.toThrow()
      if (obj.kind !== 'Namespace') expect(obj.metadata.namespace).toBe(NAMESPACE)
    }
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`)
    expect(new Set(names).size).toBe(names.length)
  })

  it('runs every container probed, limited, non-root, read-only, and stopping gracefully', () => {
    for (const d of deployments(objs)) {
      const pod = d.spec.template.spec
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
      expect(pod.volumes).toContainEqual(
        expect.objectContaining({ name: 'tmp', emptyDir: expect.anything() }),
      )
      expect(d.spec.selector.matchLabels).toEqual(
        Object.fromEntries(
          Object.entries(d.spec.template.metadata.labels).filter(
            ([k]) => k in d.spec.selector.matchLabels,
          ),
        ),
      )
      // Above the job grace plus main.ts's hard exit, and above the lease.
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
        SHUTDOWN_GRACE_MS + SHUTDOWN_HARD_EXIT_MS,
      )
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(QUEUE_LEASE_MS)
      for (const c of pod.containers) {
        expect(c.readinessProbe.httpGet.path).toBe('/readyz')
        expect(c.livenessProbe.httpGet.path).toBe('/healthz')
        expect(c.resources.requests).toMatchObject({
          cpu: expect.anything(),
          memory: expect.anything(),
        })
        expect(c.resources.limits).toMatchObject({
          cpu: expect.anything(),
          memory: expect.anything(),
        })
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        })
        expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' })
        expect(c.image).toBe('pixelflow')
        expect(c.command).toEqual(['/usr/bin/tini', '--'])
        expect(c.args.slice(0, 2)).toEqual(['node', 'dist/start/main.js'])
        const env = envOf(c)
        expect(Number(env.PIXELFLOW_SHUTDOWN_GRACE_MS)).toBe(SHUTDOWN_GRACE_MS)
        expect(Number(env.PIXELFLOW_QUEUE_LEASE_MS)).toBe(QUEUE_LEASE_MS)
      }
    }
  })

  it('sends the Ingress to a Service that selects a Deployment, with the upload limit', () => {
    const [ingress] = find(objs, 'Ingress')
    const backend = ingress!.spec.rules[0].http.paths[0].backend.service
    const [service] = find(objs, 'Service', backend.name)
    expect(service).toBeDefined()
    expect(service!.spec.ports.map((p: any) => p.name)).toContain(backend.port.name)
    const selected = deployments(objs).filter((d) =>
      Object.entries(service!.spec.selector).every(
        ([k, v]) => d.spec.template.metadata.labels[k] === v,
      ),
    )
    expect(selected).toHaveLength(1)
    const size =
      ingress!.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size'] ?? ''
    expect(Number.parseInt(size, 10) * 1024 * 1024).toBe(MAX_UPLOAD_BYTES)
    expect(
      Number(envOf(selected[0]!.spec.template.spec.containers[0]).PIXELFLOW_MAX_UPLOAD_BYTES),
    ).toBe(MAX_UPLOAD_BYTES)
  })

  it('points every PodDisruptionBudget and autoscaler at a Deployment, never two at one', () => {
    const byName = new Map(deployments(objs).map((d) => [d.metadata.name, d]))
    for (const pdb of find(objs, 'PodDisruptionBudget')) {
      const matched = deployments(objs).filter((d) =>
        Object.entries(pdb.spec.selector.matchLabels).every(
          ([k, v]) => d.spec.template.metadata.labels[k] === v,
        ),
      )
      expect(matched, pdb.metadata.name).toHaveLength(1)
    }
    const targets = [
      ...find(objs, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name),
      ...find(objs, 'ScaledObject').map((s) => s.spec.scaleTargetRef.name),
    ]
    expect(new Set(targets).size).toBe(targets.length)
    for (const target of targets) {
      expect(byName.has(target), target).toBe(true)
      // An apply must not reset the replicas an autoscaler chose.
      expect(byName.get(target)!.spec.replicas, target).toBeUndefined()
    }
  })
})

describe('deploy/k8s variants', () => {
  it('has live schema checks: a Deployment with a wrong type or an unknown field fails', () => {
    const [api] = find(objects('scaled'), 'Deployment', 'api')
    expect(() =>
      new Deployment({ ...api, spec: { ...api!.spec, replicas: 'two' } } as any).validate(),
    ).toThrow()
    expect(() =>
      new HorizontalPodAutoscaler({
        ...find(objects('scaled'), 'HorizontalPodAutoscaler')[0],
        spec: {},
      } as any).validate(),
    ).toThrow()
    const [so] = find(objects('scaled'), 'ScaledObject')
    expect(() =>
      new ScaledObject({ ...so, spec: { ...so!.spec, scaleTargetRef: {} } } as any).validate(),
    ).toThrow()
  })

  it('embedded: one serve replica on a volume, recreated, no autoscaling', () => {
    const objs = objects('embedded')
    const [serve, ...others] = deployments(objs)
    expect(others).toHaveLength(0)
    expect(serve!.spec.replicas).toBe(1)
    expect(serve!.spec.strategy.type).toBe('Recreate')
    const pod = serve!.spec.template.spec
    expect(pod.containers[0].args).toEqual(['node', 'dist/start/main.js', 'serve'])
    const claim = pod.volumes.find((v: any) => v.persistentVolumeClaim)
    expect(find(objs, 'PersistentVolumeClaim', claim.persistentVolumeClaim.claimName)).toHaveLength(
      1,
    )
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === claim.name)
    expect(envOf(pod.containers[0]).PIXELFLOW_DATA_DIR).toBe(mount.mountPath)
    expect(find(objs, 'HorizontalPodAutoscaler')).toHaveLength(0)
    expect(find(objs, 'ScaledObject')).toHaveLength(0)
  })

  it.each(['scaled', 'aws'] as const)('%s: api, worker and relay, each its own role', (variant) => {
    const objs = objects(variant)
    const roles = Object.fromEntries(
      deployments(objs).map((d) => [d.metadata.name, d.spec.template.spec.containers[0].args[2]]),
    )
    expect(roles).toEqual({ api: 'api', worker: 'worker', relay: 'relay' })
    const [api] = find(objs, 'Deployment', 'api')
    expect(envOf(api!.spec.template.spec.containers[0]).PIXELFLOW_RELAY_ENABLED).toBe('false')
    const [hpa] = find(objs, 'HorizontalPodAutoscaler')
    expect(hpa!.spec.scaleTargetRef.name).toBe('api')
    expect(hpa!.spec.metrics[0].resource).toMatchObject({
      name: 'cpu',
      target: { type: 'Utilization' },
    })
    expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2)
    expect(
      find(objs, 'PodDisruptionBudget')
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['api', 'worker'])
    const [worker] = find(objs, 'Deployment', 'worker')
    const container = worker!.spec.template.spec.containers[0]
    // A slot per core: the concurrency the backlog is divided by is what the pod is given.
    expect(Number(envOf(container).PIXELFLOW_WORKER_CONCURRENCY)).toBe(WORKER_SLOTS_PER_REPLICA)
    expect(container.resources.requests.cpu).toBe(String(WORKER_SLOTS_PER_REPLICA))
  })

  it('scaled: KEDA keeps backlog per worker at the target through Prometheus', () => {
    const [so] = find(objects('scaled'), 'ScaledObject')
    expect(so!.spec).toMatchObject({
      minReplicaCount: 1,
      maxReplicaCount: expect.any(Number),
      cooldownPeriod: 300,
    })
    expect(so!.spec.maxReplicaCount).toBeGreaterThan(so!.spec.minReplicaCount)
    const [trigger] = so!.spec.triggers
    expect(trigger).toMatchObject({ type: 'prometheus', metricType: 'Value' })
    expect(trigger.metadata.query).toBe(backlogPerWorkerPromQL(NAMESPACE))
    expect(trigger.metadata.threshold).toBe(String(BACKLOG_PER_WORKER_TARGET))
    for (const value of Object.values(trigger.metadata)) expect(typeof value).toBe('string')
    // The definition is the one written in docs/deploy.md.
    expect(readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8')).toContain(
      backlogPerWorkerPromQL(NAMESPACE),
    )
  })

  it('aws: KEDA reads SQS visible messages, converted to backlog per worker', () => {
    const objs = objects('aws')
    const [so] = find(objs, 'ScaledObject')
    const [trigger] = so!.spec.triggers
    expect(trigger).toMatchObject({ type: 'aws-sqs-queue', metricType: 'AverageValue' })
    expect(trigger.metadata.queueLength).toBe(
      String(BACKLOG_PER_WORKER_TARGET * WORKER_SLOTS_PER_REPLICA),
    )
    expect(trigger.metadata.scaleOnInFlight).toBe('false')
    expect(find(objs, 'TriggerAuthentication', trigger.authenticationRef.name)).toHaveLength(1)
    for (const d of deployments(objs))
      expect(envOf(d.spec.template.spec.containers[0]).PIXELFLOW_QUEUE_DRIVER).toBe('sqs')
  })
})
