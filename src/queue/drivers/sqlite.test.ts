import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { describeQueueDriver, fakeClock } from '../../../test/contracts/queue-driver.contract.js'
import { useTempDirs } from '../../../test/fixtures/temp-dirs.js'
import type { QueueDriver } from '../queue.js'
import { createSqliteQueue } from './sqlite.js'

const tempDir = useTempDirs('pixelflow-queue-')

// A fake clock, so the suite never sleeps and checks every time boundary to the millisecond.
// Jitter pinned mid-range: a zero delay would make "not visible right after a failure" flaky.
const CONTRACT = {
  clock: fakeClock(),
  leaseMs: 30_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 60_000,
  settleMs: 0,
  capabilities: { dedupesById: true, reportsOldestAge: true },
}
describeQueueDriver('sqlite', CONTRACT, async (opts) =>
  createSqliteQueue({ path: join(await tempDir(), 'queue.db'), random: () => 0.5, ...opts }),
)

const FAR_LEASE = { leaseMs: 3_600_000, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 }
const jobs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `job-${i}`, payload: String(i) }))

/** Every id exactly once: a duplicate means two holders leased the same job at the same time. */
function expectEachOnce(received: string[], n: number) {
  expect(received).toHaveLength(n)
  expect(new Set(received).size).toBe(n)
}

describe('sqlite queue: several connections on one file', () => {
  it('never leases one job to two connections across interleaved receives', async () => {
    const path = join(await tempDir(), 'queue.db')
    const drivers: QueueDriver[] = [
      createSqliteQueue({ path, ...FAR_LEASE }),
      createSqliteQueue({ path, ...FAR_LEASE }),
    ]
    try {
      await drivers[0]!.enqueue(jobs(200))
      const received: string[] = []
      for (let round = 0; received.length < 200 && round < 500; round++) {
        const batches = await Promise.all(
          drivers.flatMap((d) => [d.receive(1 + (round % 3)), d.receive(2)]),
        )
        received.push(...batches.flat().map((job) => job.id))
      }
      expectEachOnce(received, 200)
      expect(await drivers[1]!.receive(10)).toEqual([])
    } finally {
      await Promise.all(drivers.map((d) => d.close()))
    }
  })
  // Real processes (which can overlap claims, unlike connections in one process): test/faults/sqlite-queue.test.ts.
})
