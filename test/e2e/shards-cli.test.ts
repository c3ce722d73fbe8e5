import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli } from '../fixtures/serve-process.js'

/** The operator's commands through the built binary, on the embedded SQLite shards. */
describe('pixelflow shards', () => {
  let dir: string
  let env: Record<string, string>

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-shards-cli-'))
    env = { PIXELFLOW_DATA_DIR: dir }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('shows status, adds a shard, prints a plan before running it, and moves an owner', () => {
    const status = cli(env, 'shards', 'status')
    expect(status).toMatch(/Directory epoch 1, strategy hash, 4 shards, 4096 buckets/)
    expect(status).toMatch(/^0\s+1024\s+0\s+0 B/m)

    expect(cli(env, 'shards', 'add', join(dir, 'shards', 'shard-4.db'))).toMatch(
      /Registered shard 4 .*holding no buckets/,
    )
    const dryRun = cli(env, 'shards', 'rebalance', '--dry-run')
    expect(dryRun).toMatch(/Plan: move 819 of 4096 buckets/)
    expect(dryRun).toMatch(/shard 0 → 4: 204 buckets\n {2}shard 1 → 4: 205 buckets/)
    expect(cli(env, 'shards', 'status')).toMatch(/^4\s+0\s/m) // a dry run moves nothing

    const partial = cli(env, 'shards', 'rebalance', '--max-moves', '10')
    expect(partial).toMatch(/Plan: move 10 of 4096 buckets \(819 in the full plan\)/)
    expect(partial).toMatch(/Moved 10 buckets \(0 rows\)/)

    const moved = cli(env, 'shards', 'move', '--owner', 'alice', '--to', '4')
    expect(moved).toMatch(/Owner alice is in bucket \d+ on shard \d/)
    expect(moved).toMatch(/Done: 0 rows copied; directory epoch 12\./)
    const json = JSON.parse(cli(env, 'shards', 'status', '--json'))
    expect(json.epoch).toBe(12)
    expect(json.shards.find((s: { id: number }) => s.id === 4).buckets).toBe(11)
  })

  it('refuses bad input with a message and a non-zero exit', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['dist/start/main.js', ...args], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      })
    expect(run('shards', 'move', '--owner', 'alice', '--to', '9')).toMatchObject({
      status: 1,
      stdout: expect.stringMatching(/No shard 9/),
    })
    expect(run('shards', 'place', '--owner', 'new', '--bucket', '3')).toMatchObject({
      status: 1,
      stdout: expect.stringMatching(/directory/),
    })
    expect(run('shards', 'frobnicate').status).toBe(2)
  })
})
