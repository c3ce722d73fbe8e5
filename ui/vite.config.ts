import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * The dashboard's bundle, served by the API at /ui (src/api/routes/ui). Every file but
 * index.html gets a content hash in its name under assets/, which the server caches for a year.
 * Nothing is inlined into index.html: the page's CSP allows no inline script or style.
 */
export default defineConfig({
  root: here,
  base: '/ui/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // The client's TypeScript source, so the page never depends on packages/client being built.
  resolve: { alias: { '@pixelflow/client': join(here, '../packages/client/src/index.ts') } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be a script of its own; every browser the page supports has modulepreload.
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
})
