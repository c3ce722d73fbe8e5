import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PROCESS_ENV } from '../../deploy/process-env.js'

const ROOT = join(import.meta.dirname, '../..')
const START = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start as string
const ENTRY = 'node dist/start/main.js serve'

/**
 * package.json's start script run by a shell, as npm runs it, with the service swapped for a probe
 * that reports what the process got: the allocator's environment, and the size V8's young
 * generation reaches after a churn of short-lived objects (two semi-spaces: 32 MB by default).
 * The Dockerfile's side of deploy/process-env.ts is held in dockerfile.test.ts.
 */
describe('npm start gives the service deploy/process-env.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pixelflow-process-env-'))
  const probe = join(dir, 'probe.cjs')
  writeFileSync(
    probe,
    `const v8 = require('node:v8')
let keep = []
for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2e5) keep = [] }
const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')
const { MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, NODE_OPTIONS } = process.env
console.log(JSON.stringify({ MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, NODE_OPTIONS, youngMb: young.space_size / 2 ** 20 }))`,
  )
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  function start(env: Record<string, string>) {
    const command = START.replace(ENTRY, `node ${JSON.stringify(probe)}`)
    const { PATH, HOME } = process.env
    const run = spawnSync('sh', ['-c', command], {
      env: { PATH: PATH ?? '', HOME: HOME ?? '', ...env },
      encoding: 'utf8',
    })
    expect(run.stderr).toBe('')
    return JSON.parse(run.stdout)
  }

  it('runs the one-process service', () => {
    expect(START.endsWith(ENTRY)).toBe(true)
  })

  it('sets every setting, and the young generation stays at two 2 MB semi-spaces', () => {
    const got = start({})
    expect({ ...got, NODE_OPTIONS: got.NODE_OPTIONS.trim() }).toMatchObject(PROCESS_ENV)
    expect(got.youngMb).toBeLessThanOrEqual(4)
  })

  it('lets values set in the environment win', () => {
    const got = start({
      MALLOC_ARENA_MAX: '4',
      MALLOC_MMAP_THRESHOLD_: '65536',
      NODE_OPTIONS: '--max-semi-space-size=8',
    })
    expect(got).toMatchObject({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '65536' })
    expect(got.youngMb).toBe(16)
  })
})
