/** The objects both variants have: namespace, service account, HTTP Service, Ingress. */

import { Ingress } from 'kubernetes-models/networking.k8s.io/v1'
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1'
import { MAX_UPLOAD_BYTES } from '../../scaling.js'
import { labels, type Model, meta, NAME, NAMESPACE } from './shared.js'

export function common(name: string): Model<unknown>[] {
  return [
    new Namespace({ metadata: { name: NAMESPACE, labels: { [NAME]: 'pixelflow' } } }),
    new ServiceAccount({
      metadata: meta('pixelflow', name),
      automountServiceAccountToken: false,
    }),
  ]
}

export function httpService(component: string): Service {
  return new Service({
    metadata: meta(component === 'serve' ? 'pixelflow' : component, component),
    spec: {
      selector: labels(component),
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    },
  })
}

export function ingress(service: string): Ingress {
  return new Ingress({
    metadata: {
      ...meta('pixelflow', 'ingress'),
      annotations: {
        // ingress-nginx: the API's own upload limit, streamed through.
        'nginx.ingress.kubernetes.io/proxy-body-size': `${MAX_UPLOAD_BYTES / 1024 / 1024}m`,
        'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
        'nginx.ingress.kubernetes.io/proxy-read-timeout': '120',
      },
    },
    spec: {
      ingressClassName: 'nginx',
      rules: [
        {
          host: 'pixelflow.example.com',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: service, port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    },
  })
}
