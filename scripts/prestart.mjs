#!/usr/bin/env node
/**
 * `npm start`'s prestart. From a clone (TypeScript installed) it builds when dist/ is missing or
 * older than src/, so `npm install && npm start` works as it always has. From a production install
 * (`npm ci --omit=dev`: no TypeScript) it cannot build, so it only checks that the built entry
 * point is there and says what to do when it is not. Node built-ins only: it runs before anything.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = join(root, 'dist', 'start', 'main.js')

/** The TypeScript compiler of this project, or null in a production install. */
function findTsc() {
  try {
    return createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  } catch {
    return null
  }
}

/** The newest modification time of the files under `dir`, 0 when there is none. */
function newestMtime(dir) {
  if (!existsSync(dir)) return 0
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs)
  }
  return newest
}

/** Built from the sources there are: the entry exists and no source changed after the build. */
function isFresh() {
  if (!existsSync(entry)) return false
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    ...['tsconfig.json', 'tsconfig.build.json'].map((name) => {
      const path = join(root, name)
      return existsSync(path) ? statSync(path).mtimeMs : 0
    }),
  )
  return sources <= newestMtime(join(root, 'dist'))
}

/** A package's folder in this install, or null (a production install has no dev dependencies). */
function findPackage(name) {
  try {
    return dirname(createRequire(join(root, 'package.json')).resolve(`${name}/package.json`))
  } catch {
    return null
  }
}

/**
 * The dashboard's bundle (ui/dist), built when missing or older than its sources and Vite is
 * installed. A failure is reported, not fatal: the API starts without it and /ui says so.
 */
function buildDashboard() {
  const ui = join(root, 'ui')
  const vite = findPackage('vite')
  if (!vite || !existsSync(join(ui, 'vite.config.ts'))) return
  const bundle = join(ui, 'dist', 'index.html')
  const sources = Math.max(
    newestMtime(join(ui, 'src')),
    newestMtime(join(root, 'packages', 'client', 'src')),
    statSync(join(ui, 'index.html')).mtimeMs,
  )
  if (existsSync(bundle) && sources <= statSync(bundle).mtimeMs) return
  const build = spawnSync(
    process.execPath,
    [join(vite, 'bin', 'vite.js'), 'build', '--config', 'ui/vite.config.ts'],
    { cwd: root, stdio: 'inherit' },
  )
  if (build.status !== 0)
    console.error('pixelflow: the dashboard did not build; the API starts without it (/ui: 503).')
}

buildDashboard()
const tsc = findTsc()
if (tsc && !isFresh()) {
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  process.exit(build.status ?? 1)
}
if (!existsSync(entry)) {
  console.error(
    `pixelflow: ${entry} is missing and TypeScript is not installed to build it.\n` +
      'This looks like a production install (npm ci --omit=dev). Build where the dev dependencies\n' +
      'are (npm ci && npm run build) and ship dist/ with it, or install them here: npm ci.',
  )
  process.exit(1)
}
if (!tsc && !isFresh())
  console.error(
    'pixelflow: dist/ is older than src/, and TypeScript is not installed: starting the build there is.',
  )
