import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OperationRefused, planRebalance } from '../../src/sharding/operations.js'
import { eventually } from '../fixtures/eventually.js'
import { createMetadataEnv, METADATA_DIALECTS, type MetadataEnv } from '../fixtures/metadata-env.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const T = 1_700_000_000_000

/**
 * Issue 11: two `shards rebalance` runs at once were not prevented, and two movers on one bucket
 * fight over its phases. A lease in the control database (holder and expiry, renewed while the
 * mover runs) lets one run at a time; a killed holder's lease expires after its TTL.
 */
for (const dialect of METADATA_DIALECTS) {
  describe(`rebalance lease (${dialect})`, () => {
    let env: MetadataEnv
    beforeAll(async () => {
      env = await createMetadataEnv(dialect, 2, 1)
    })
    afterAll(() => env.cleanup())

    it('the lease row: one holder at a time, renewed by its holder only, free once expired', async () => {
      const { metadata } = await env.open({ poolSize: 2 })
      const leases = metadata.directoryStore.leases
      expect(await leases.acquire('test-a', 'one', 30_000, T)).toEqual({ acquired: true })
      expect(await leases.acquire('test-a', 'two', 30_000, T + 1_000)).toEqual({
        acquired: false,
        holder: 'one',
        expiresAt: T + 30_000,
      })
      // The holder renews; the other cannot.
      expect(await leases.renew('test-a', 'one', 30_000, T + 20_000)).toBe(true)
      expect(await leases.renew('test-a', 'two', 30_000, T + 20_000)).toBe(false)
      expect(await leases.acquire('test-a', 'two', 30_000, T + 49_999)).toMatchObject({
        acquired: false,
      })
      // Not renewed in time (the holder was killed): the next one takes it.
      expect(await leases.acquire('test-a', 'two', 30_000, T + 50_000)).toEqual({ acquired: true })
      expect(await leases.renew('test-a', 'one', 30_000, T + 50_001)).toBe(false)
      // Release frees it at once, for its holder only.
      await leases.release('test-a', 'one')
      expect(await leases.acquire('test-a', 'three', 30_000, T + 50_002)).toMatchObject({
        acquired: false,
      })
      await leases.release('test-a', 'two')
      expect(await leases.acquire('test-a', 'three', 30_000, T + 50_003)).toEqual({
        acquired: true,
      })
    })

    it('racing acquirers: exactly one wins', async () => {
      const opened = await Promise.all([1, 2, 3, 4].map(() => env.open({ poolSize: 2 })))
      const results = await Promise.all(
        opened.map((o, i) =>
          o.metadata.directoryStore.leases.acquire('test-race', `p${i}`, 30_000),
        ),
      )
      expect(results.filter((r) => r.acquired)).toHaveLength(1)
    })

    it('a second rebalance while one runs refuses clearly; a killed holder’s lease expires', async () => {
      const first = (await env.open({ poolSize: 2 })).metadata
      const second = (await env.open({ poolSize: 2 })).metadata
      expect(await first.addShard(env.spare[0]!)).toBe(2)
      await second.refresh()

      let secondOutcome: unknown
      const running = await planRebalance(first, {
        maxMoves: 2,
        onPhase: async (_move, phase, step) => {
          // While the first run holds the lease, the second tries to start.
          if (phase === 'capture' && step === 0 && secondOutcome === undefined) {
            secondOutcome = 'pending'
            const other = await planRebalance(second, { maxMoves: 2 })
            secondOutcome = await other.run().then(
              () => 'ran',
              (error: unknown) => error,
            )
          }
        },
      })
      const moved = await running.run()
      expect(moved.map((m) => m.phase)).toEqual(['done', 'done'])
      expect(secondOutcome).toBeInstanceOf(OperationRefused)
      expect((secondOutcome as Error).message).toMatch(
        /Another rebalance or move is running \(holder .+, lease until .+\)/,
      )
      // Released at the end: the next run goes ahead.
      expect(
        (await (await planRebalance(second, { maxMoves: 1 })).run()).map((m) => m.phase),
      ).toEqual(['done'])

      // A holder killed mid-run never releases: its lease blocks until its TTL runs out.
      const dead = await first.directoryStore.leases.acquire('shard-mover', 'killed-host:1', 400)
      expect(dead).toEqual({ acquired: true })
      await expect((await planRebalance(second, { maxMoves: 1 })).run()).rejects.toThrow(
        /holder killed-host:1/,
      )
      await eventually(
        async () =>
          (await (await planRebalance(second, { maxMoves: 1 })).run()).every(
            (m) => m.phase === 'done',
          ),
        { timeoutMs: 5_000, intervalMs: 100, message: 'the killed holder’s lease expired' },
      )
    })
  })
}

describe('pixelflow shards rebalance with a lease held elsewhere (built binary)', () => {
  let env: MetadataEnv
  beforeAll(async () => {
    env = await createMetadataEnv('sqlite', 2, 1)
    const opened = await env.open()
    await opened.metadata.addShard(env.spare[0]!)
    await opened.close()
  })
  afterAll(() => env.cleanup())

  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['dist/start/main.js', 'shards', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env.env, PIXELFLOW_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    })

  it('refuses with a clear message and exit 1, then runs once the lease has expired', () => {
    const control = new Database(env.config.control)
    try {
      control
        .prepare('insert into leases (name, holder, expires_at) values (?, ?, ?)')
        .run('shard-mover', 'other-host:4242', Date.now() + 60_000)
      const refused = run('rebalance', '--max-moves', '1')
      expect(refused.status, refused.stderr).toBe(1)
      expect(refused.stdout + refused.stderr).toMatch(
        /Another rebalance or move is running \(holder other-host:4242, lease until .+\)/,
      )
      control.prepare('update leases set expires_at = ?').run(Date.now() - 1)
      const ran = run('rebalance', '--max-moves', '1')
      expect(ran.status, ran.stdout + ran.stderr).toBe(0)
      expect(ran.stdout).toMatch(/Moved 1 buckets/)
    } finally {
      control.close()
    }
  })
})
