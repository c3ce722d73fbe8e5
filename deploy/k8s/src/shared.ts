/** Names and labels every object shares. */

export const NAMESPACE = 'pixelflow'
/** The image name the kustomizations rewrite (`images:`) to a registry and tag. */
export const IMAGE = 'pixelflow'
export const PORT = 8080
/**
 * Prometheus metrics are served on their own port (PIXELFLOW_METRICS_PORT), never on the HTTP port
 * that the Ingress exposes.
 */
export const METRICS_PORT = 9464
export const SECRET = 'pixelflow-secrets'
export const NAME = 'app.kubernetes.io/name'
const COMPONENT = 'app.kubernetes.io/component'

/** Any kubernetes-models object (they validate themselves and serialise with toJSON). */
export interface Model<_T = unknown> {
  toJSON(): unknown
}

export const labels = (component: string) => ({ [NAME]: 'pixelflow', [COMPONENT]: component })
export const meta = (name: string, component: string) => ({
  name,
  namespace: NAMESPACE,
  labels: labels(component),
})
