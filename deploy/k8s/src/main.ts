import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { kustomization, synthVariant, VARIANTS } from './charts.js'

/** Writes deploy/k8s/<variant>/{pixelflow.k8s.yaml,kustomization.yaml}: `npx tsx deploy/k8s/src/main.ts`. */
const root = fileURLToPath(new URL('..', import.meta.url))
for (const variant of VARIANTS) {
  mkdirSync(join(root, variant), { recursive: true })
  writeFileSync(join(root, variant, 'pixelflow.k8s.yaml'), synthVariant(variant))
  writeFileSync(join(root, variant, 'kustomization.yaml'), kustomization(variant))
  console.log(`deploy/k8s/${variant}/`)
}
