import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../fixtures/temp-dirs.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** `pixelflow keys …` through the built binary (npm run build), as an operator runs it. */
// Each case spawns the binary several times: on a loaded 2-core machine that takes a while.
describe('pixelflow keys: rotation and revocation', { timeout: 180_000 }, () => {
  const tempDir = useTempDirs('pf-auth-keys-')

  const run = (dataDir: string, ...args: string[]) =>
    spawnSync(process.execPath, ['dist/start/main.js', 'keys', ...args], {
      cwd: ROOT,
      env: { ...process.env, PIXELFLOW_DATA_DIR: dataDir, PIXELFLOW_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    })
  const listed = (dataDir: string) => JSON.parse(run(dataDir, 'list').stdout)

  it('accepts 3600, 45s, 30m, 1h and 2d as grace periods and stores each', async () => {
    const dir = await tempDir()
    const cases = [
      ['3600', 3600],
      ['45s', 45],
      ['30m', 1800],
      ['1h', 3600],
      ['2d', 172_800],
    ] as const
    const windows = new Map<string, { from: number; to: number; text: string }>()
    for (const [text, seconds] of cases) {
      const id = /^pf_([A-Za-z0-9_-]{12})_/.exec(run(dir, 'create', '--owner', 'alice').stdout)![1]!
      const before = Date.now()
      const rotated = run(dir, 'rotate', id, '--grace-seconds', text)
      expect(rotated.status, rotated.stderr).toBe(0)
      windows.set(id, { from: before + seconds * 1000, to: Date.now() + seconds * 1000, text })
    }
    const keys = listed(dir) as { id: string; revokedAt: number | null }[]
    expect(keys.filter((key) => windows.has(key.id))).toHaveLength(cases.length)
    for (const key of keys) {
      const window = windows.get(key.id)
      if (!window) continue // the keys the rotations issued
      expect(key.revokedAt, window.text).toBeGreaterThanOrEqual(window.from)
      expect(key.revokedAt, window.text).toBeLessThanOrEqual(window.to)
    }
  })

  it('refuses a grace period it cannot read, with a non-zero exit, changing nothing', async () => {
    const dir = await tempDir()
    const id = /^pf_([A-Za-z0-9_-]{12})_/.exec(run(dir, 'create', '--owner', 'alice').stdout)![1]!
    for (const bad of ['1w', 'soon', '-5', '1.5h', '']) {
      const out = run(dir, 'rotate', id, '--grace-seconds', bad)
      expect(out.status, bad).not.toBe(0)
      expect(out.stderr, bad).toMatch(/--grace-seconds/)
    }
    expect(listed(dir)).toHaveLength(1)
    expect(listed(dir)[0].revokedAt).toBeNull()
  })

  it('revoke wins over a rotation grace period', async () => {
    const dir = await tempDir()
    const id = /^pf_([A-Za-z0-9_-]{12})_/.exec(run(dir, 'create', '--owner', 'alice').stdout)![1]!
    expect(run(dir, 'rotate', id, '--grace-seconds', '1d').status).toBe(0)
    expect(listed(dir).find((k: { id: string }) => k.id === id).revokedAt).toBeGreaterThan(
      Date.now() + 3600_000,
    )
    const revoked = run(dir, 'revoke', id)
    expect(revoked.status, revoked.stderr).toBe(0)
    expect(listed(dir).find((k: { id: string }) => k.id === id).revokedAt).toBeLessThanOrEqual(
      Date.now(),
    )
  })
})
