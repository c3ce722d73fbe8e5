import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { parseProcessImageJob } from '../../src/domain/jobs.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createSqliteQueue } from '../../src/queue/drivers/sqlite.js'
import type { QueueDriver } from '../../src/queue/queue.js'
import { createImageProcessor, type JobOutcome } from '../../src/worker/process-image.js'
import { startWorker, type Worker } from '../../src/worker/run-worker.js'
import { eventually } from '../fixtures/eventually.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

/**
 * A rolling deploy: workers of the previous release (payload v1 only) and of this one (v1 and v2)
 * share one SQLite queue holding jobs of both versions. Nothing may be lost, failed, dead-lettered
 * or processed twice: an old worker hands a v2 job back to the queue, a new one processes it.
 */
describe('rolling out workers: old and new side by side on one queue', () => {
  let h: Harness | undefined
  const workers: Worker[] = []
  const queues: QueueDriver[] = []
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop(1000)))
    await Promise.all(queues.splice(0).map((q) => q.close()))
    await h?.close()
  })

  /** Drains the outbox by hand: odd images keep today's v2 job, even ones get a v1 job. */
  async function enqueueMixedVersions(harness: Harness, ids: string[]): Promise<Set<string>> {
    const { metadata, queue } = harness.pf.deps
    const v1 = new Set(ids.filter((_, i) => i % 2 === 0))
    for (const handle of metadata.shards()) {
      const shard = await metadata.shard(handle.id)
      const items = await shard.readOutbox(100)
      const jobs = items.map(({ jobId, payload }) => {
        const parsed = parseProcessImageJob(payload)
        if (parsed.kind !== 'accepted' || parsed.work.version !== 2) throw new Error(payload)
        const imageId = parsed.work.imageId
        // What the previous release's API wrote: no version field.
        return { id: jobId, payload: v1.has(imageId) ? JSON.stringify({ imageId }) : payload }
      })
      await queue.enqueue(jobs)
      await shard.removeOutbox(items.map((item) => item.seq))
    }
    return v1
  }

  it('every image ends ready exactly once, nothing is dead, old workers defer v2 jobs', async () => {
    h = await startHarness({ PIXELFLOW_WORKER_ENABLED: 'false', PIXELFLOW_RELAY_ENABLED: 'false' })
    const harness = h
    const ids: string[] = []
    for (let i = 0; i < 10; i++)
      ids.push((await harness.upload(await makeJpeg(320 + i * 8, 240))).json().id)
    const v1 = await enqueueMixedVersions(harness, ids)
    expect(v1.size).toBe(5)

    const readyBy = { old: [] as string[], new: [] as string[] }
    const deferredBy = { old: 0, new: 0 }
    const logLines: string[] = []
    const start = (name: 'old' | 'new', queue: QueueDriver, acceptedVersions: number[]) => {
      const sink = new Writable({
        write: (chunk, _enc, done) => done(void logLines.push(`${name} ${chunk}`)),
      })
      const logger = pino({ level: 'warn' }, sink)
      const processor = createImageProcessor({
        metadata: harness.pf.deps.metadata,
        store: harness.pf.deps.store,
        processing: harness.config.processing,
        limits: harness.config.limits,
        logger,
        onChanged: harness.pf.invalidate,
        acceptedVersions,
      })
      const handler = {
        ...processor,
        async handle(...args: Parameters<typeof processor.handle>): Promise<JobOutcome> {
          const outcome = await processor.handle(...args)
          const imageId = JSON.parse(args[0].payload).imageId
          if (outcome === 'ready') readyBy[name].push(imageId)
          if (outcome === 'deferred') deferredBy[name]++
          return outcome
        },
      }
      const worker = startWorker({
        queue,
        handler,
        concurrency: 2,
        pollMs: 10,
        leaseMs: 10_000,
        logger,
        deferMs: 50,
        metrics: createMetrics(),
      })
      workers.push(worker)
    }

    // The old worker starts alone, so it must meet v2 jobs; the new one joins on its own connection
    // to the same queue file, as a second process would.
    start('old', harness.pf.deps.queue, [1])
    await eventually(() => deferredBy.old > 0, { timeoutMs: 20_000, message: 'old worker defers' })
    if (harness.config.queue.driver !== 'sqlite')
      throw new Error('this test needs the SQLite queue')
    const second = createSqliteQueue(harness.config.queue)
    queues.push(second)
    start('new', second, [1, 2])

    const settled = await Promise.all(ids.map((id) => harness.waitSettled(id, 60_000)))
    expect(settled.map((image) => image.status)).toEqual(ids.map(() => 'ready'))
    const everyReady = [...readyBy.old, ...readyBy.new].sort()
    expect(everyReady).toEqual([...ids].sort())
    // The old release processed only what it knows; every v2 job went to the new one.
    expect(readyBy.old.every((id) => v1.has(id))).toBe(true)
    expect(ids.filter((id) => !v1.has(id)).every((id) => readyBy.new.includes(id))).toBe(true)
    expect(deferredBy.new).toBe(0)

    // The worker acks after the image row says ready; the ack is a later commit than the row's.
    await eventually(async () =>
      expect(await harness.pf.deps.queue.stats()).toMatchObject({
        visible: 0,
        inFlight: 0,
        delayed: 0,
        dead: 0,
      }),
    )
    expect(await harness.pf.deps.queue.listDead(10)).toEqual([])
    expect(logLines.some((l) => l.startsWith('old ') && l.includes('newer release'))).toBe(true)
    expect(logLines.filter((l) => l.includes('job failed'))).toEqual([])
  })
})
