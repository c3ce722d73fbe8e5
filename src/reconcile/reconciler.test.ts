import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import { type Harness, startHarness } from '../../test/fixtures/harness.js'
import { makeJpeg } from '../../test/fixtures/images.js'
import { type ReconcileDeps, reconcileOnce } from './reconciler.js'

/**
 * The reconciler over the real embedded deployment (SQLite shards and queue, no workers), with
 * its clock moved past the stuck threshold instead of waiting for it.
 */
const STUCK_AFTER_MS = 60_000
let harness: Harness | null = null
afterEach(async () => {
  await harness?.close()
  harness = null
})

async function scene(env: Record<string, string> = {}) {
  harness = await startHarness({
    PIXELFLOW_WORKER_ENABLED: 'false',
    PIXELFLOW_RECONCILE_ENABLED: 'false',
    ...env,
  })
  const h = harness
  const { queue, metadata, metrics } = h.pf.deps
  const counted: string[] = []
  const deps = (now: number): ReconcileDeps => ({
    metadata,
    queue,
    settings: { stuckAfterMs: STUCK_AFTER_MS, maxRequeues: 1, batchSize: 10 },
    logger: pino({ level: 'silent' }),
    onChanged: h.pf.invalidate,
    count: (kind, action) => {
      counted.push(`${kind}:${action}`)
      metrics.reconciled.inc({ kind, action })
    },
    now: () => now,
  })
  /** An accepted upload whose job the relay published and the queue then lost (a purge). */
  async function lostUpload(): Promise<string> {
    const res = await h.upload(await makeJpeg(64, 48))
    expect(res.statusCode).toBe(202)
    await eventually(async () => (await h.leftovers()).outbox === 0, { message: 'published' })
    const [job] = await queue.receive(1)
    expect(await queue.ack(job!.id, job!.token)).toBe(true)
    return res.json().id
  }
  return { h, queue, deps, counted, lostUpload }
}

const later = (n: number) => Date.now() + n * (STUCK_AFTER_MS + 1_000)

describe('reconcileOnce', () => {
  it('re-enqueues an image whose job was lost, then fails it PROCESSING_STUCK, visible at once', async () => {
    const { h, queue, deps, counted, lostUpload } = await scene()
    const id = await lostUpload()
    expect((await h.getImage(id)).body.status).toBe('queued') // now cached as queued

    // Not yet past the threshold: nothing to do.
    expect(await reconcileOnce(deps(Date.now()))).toMatchObject({ stuck: [], dead: [] })

    const first = await reconcileOnce(deps(later(1)))
    expect(first.stuck).toMatchObject([{ id, status: 'queued', requeues: 0, action: 'requeued' }])
    // Back through the outbox to the queue: a worker would now get it.
    await eventually(async () => (await queue.stats()).visible === 1, { message: 're-published' })
    const [again] = await queue.receive(1)
    await queue.ack(again!.id, again!.token) // lost once more

    const second = await reconcileOnce(deps(later(2)))
    expect(second.stuck).toMatchObject([{ id, requeues: 1, action: 'failed' }])
    // Through the cache like any other failure: the cached `queued` was dropped.
    expect((await h.getImage(id)).body).toMatchObject({
      status: 'failed',
      failure: { code: 'PROCESSING_STUCK' },
    })
    expect(await reconcileOnce(deps(later(3)))).toMatchObject({ stuck: [], dead: [] })
    expect(counted).toEqual(['stuck:found', 'stuck:requeued', 'stuck:found', 'stuck:failed'])
    const text = await h.pf.deps.metrics.registry.metrics()
    expect(text).toContain('pixelflow_reconciler_images_total{kind="stuck",action="failed"} 1')
  })

  it('a dry run reports what it would do and changes nothing', async () => {
    const { h, deps, counted, lostUpload } = await scene()
    const id = await lostUpload()
    const report = await reconcileOnce(deps(later(1)), { dryRun: true })
    expect(report).toMatchObject({ dryRun: true, stuck: [{ id, action: 'would-requeue' }] })
    expect((await h.leftovers()).outbox).toBe(0)
    expect(counted).toEqual([])
    expect((await reconcileOnce(deps(later(1)))).stuck).toMatchObject([{ id, action: 'requeued' }])
  })

  it('two sweeps at once (two relay processes) requeue a stuck image once', async () => {
    const { h, deps, lostUpload } = await scene()
    const id = await lostUpload()
    const reports = await Promise.all([
      reconcileOnce(deps(later(1))),
      reconcileOnce(deps(later(1))),
    ])
    const actions = reports.flatMap((r) => r.stuck.map((s) => s.action)).sort()
    expect(actions).toEqual(['moved-on', 'requeued'])
    const shard = h.pf.deps.metadata.forImageId(id)!
    expect((await shard.getImage(id))?.status).toBe('queued')
  })

  it('fails the image of a job that died without failing it, with the code its history shows', async () => {
    const { h, queue, deps, counted } = await scene({ PIXELFLOW_QUEUE_MAX_ATTEMPTS: '1' })
    const res = await h.upload(await makeJpeg(64, 48))
    const id = res.json().id
    await eventually(async () => (await h.leftovers()).outbox === 0, { message: 'published' })
    const [job] = await queue.receive(1)
    // Dead-lettered, and the worker died before it could fail the image.
    expect(await queue.fail(job!.id, job!.token, 'storage unreachable')).toBe('dead')
    expect((await h.getImage(id)).body.status).toBe('queued')

    const dry = await reconcileOnce(deps(Date.now()), { dryRun: true })
    expect(dry.dead).toMatchObject([{ imageId: id, action: 'would-fail' }])
    const report = await reconcileOnce(deps(Date.now()))
    expect(report.dead).toEqual([
      { jobId: id, imageId: id, status: 'queued', code: 'RETRIES_EXHAUSTED', action: 'failed' },
    ])
    expect((await h.getImage(id)).body).toMatchObject({
      status: 'failed',
      failure: { code: 'RETRIES_EXHAUSTED' },
    })
    // Settled: the dead job stays listed, but its image is left alone from now on.
    expect((await reconcileOnce(deps(Date.now()))).dead).toEqual([])
    expect(counted).toEqual(['dead:found', 'dead:failed'])
  })

  it('runs by itself in the relay role: a lost job ends PROCESSING_STUCK, counted in the metrics', async () => {
    const { h, lostUpload } = await scene({
      PIXELFLOW_RECONCILE_ENABLED: 'true',
      PIXELFLOW_RECONCILE_INTERVAL_MS: '200',
      PIXELFLOW_RECONCILE_STUCK_AFTER_MS: '1000',
      PIXELFLOW_RECONCILE_MAX_REQUEUES: '0',
    })
    const id = await lostUpload()
    await eventually(async () => (await h.getImage(id)).body.status === 'failed', {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'the sweep failed the image',
    })
    expect((await h.getImage(id)).body.failure.code).toBe('PROCESSING_STUCK')
    expect(await h.pf.deps.metrics.registry.metrics()).toContain(
      'pixelflow_reconciler_images_total{kind="stuck",action="failed"} 1',
    )
  })
})
