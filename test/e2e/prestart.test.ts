import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const SCRIPT = join(import.meta.dirname, '../../scripts/prestart.mjs')

/**
 * scripts/prestart.mjs run against a temp folder shaped like an install: with or without a
 * (fake) TypeScript compiler, with or without a built dist/. The fake tsc writes the entry point
 * and a marker, so each case can tell whether a build ran.
 */
describe('npm start from a clone and from a production install', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  function install(options: { typescript: boolean; built: boolean }): string {
    const root = mkdtempSync(join(tmpdir(), 'pixelflow-prestart-'))
    dirs.push(root)
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), text)
    }
    mkdirSync(join(root, 'scripts'))
    copyFileSync(SCRIPT, join(root, 'scripts/prestart.mjs'))
    file('package.json', '{"name":"pixelflow","type":"module"}')
    file('src/start/main.ts', 'export {}')
    if (options.built) file('dist/start/main.js', 'export {}')
    if (options.typescript) {
      file('node_modules/typescript/package.json', '{"name":"typescript","version":"0.0.0"}')
      file(
        'node_modules/typescript/bin/tsc',
        `const fs = require('node:fs')
fs.mkdirSync('dist/start', { recursive: true })
fs.writeFileSync('dist/start/main.js', 'export {}')
fs.writeFileSync('built', process.argv.slice(2).join(' '))`,
      )
    }
    return root
  }

  const age = (root: string, path: string, secondsAgo: number) => {
    const at = new Date(Date.now() - secondsAgo * 1000)
    utimesSync(join(root, path), at, at)
  }

  const prestart = (root: string) => {
    const run = spawnSync(process.execPath, [join(root, 'scripts/prestart.mjs')], {
      cwd: root,
      encoding: 'utf8',
    })
    return { code: run.status, stderr: run.stderr, built: existsSync(join(root, 'built')) }
  }

  it('a fresh clone (TypeScript, no dist/) builds with tsconfig.build.json', () => {
    const root = install({ typescript: true, built: false })
    expect(prestart(root)).toMatchObject({ code: 0, built: true })
    expect(existsSync(join(root, 'dist/start/main.js'))).toBe(true)
    expect(readFileSync(join(root, 'built'), 'utf8')).toBe('-p tsconfig.build.json')
  })

  it('a clone builds again only when src/ changed after dist/', () => {
    const root = install({ typescript: true, built: true })
    age(root, 'src/start/main.ts', 60)
    expect(prestart(root)).toMatchObject({ code: 0, built: false })
    age(root, 'dist/start/main.js', 120)
    expect(prestart(root)).toMatchObject({ code: 0, built: true })
  })

  it('a production install with dist/ starts without TypeScript', () => {
    const root = install({ typescript: false, built: true })
    expect(prestart(root)).toMatchObject({ code: 0, built: false, stderr: '' })
  })

  it('a production install without dist/ stops with a message saying what to do', () => {
    const root = install({ typescript: false, built: false })
    const result = prestart(root)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('dist/start/main.js is missing')
    expect(result.stderr).toContain('npm ci --omit=dev')
  })
})
