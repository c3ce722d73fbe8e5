import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.js'
import { createMetricsHistory, quantileMs } from './metrics-history.js'

describe('the metrics history', () => {
  it('turns counter totals into per-interval deltas with latency quantiles', async () => {
    const metrics = createMetrics()
    let now = 0
    const history = createMetricsHistory(metrics, { intervalMs: 10_000, clock: () => now })
    await history.sample()
    expect(history.points()).toEqual([])

    now = 10_000
    const labels = { method: 'GET', route: '/v1/images/:id' }
    for (let i = 0; i < 10; i++) {
      metrics.httpRequests.inc({ ...labels, status: '200' })
      // 9 fast requests and one slow: the p50 is fast, the p95 lands in the slow bucket.
      metrics.httpSeconds.observe(labels, i === 9 ? 2 : 0.003)
    }
    metrics.uploads.inc({ result: 'accepted' }, 3)
    metrics.uploads.inc({ result: 'duplicate' })
    metrics.jobs.inc({ outcome: 'ready' }, 2)
    metrics.jobs.inc({ outcome: 'failed' })
    metrics.jobs.inc({ outcome: 'retry' })
    await history.sample()

    now = 20_000
    await history.sample()
    const [busy, idle] = history.points()
    expect(busy).toMatchObject({ at: 10_000, requests: 10, uploads: 3, jobsDone: 3 })
    expect(busy?.p50Ms).toBeGreaterThan(0)
    expect(busy?.p50Ms).toBeLessThanOrEqual(5)
    expect(busy?.p95Ms).toBeGreaterThan(1000)
    expect(busy?.p95Ms).toBeLessThanOrEqual(2500)
    expect(idle).toEqual({
      at: 20_000,
      requests: 0,
      uploads: 0,
      jobsDone: 0,
      p50Ms: null,
      p95Ms: null,
    })
  })

  it('keeps only the window: 30 min of 10 s intervals is 180 points', async () => {
    let now = 0
    const history = createMetricsHistory(createMetrics(), { clock: () => now })
    for (let i = 0; i < 200; i++) {
      await history.sample()
      now += 10_000
    }
    const points = history.points()
    expect(points).toHaveLength(180)
    expect(points.at(-1)?.at).toBe(199 * 10_000)
  })

  it('samples on an unref’d timer that stop() ends', async () => {
    const history = createMetricsHistory(createMetrics(), { intervalMs: 20 })
    history.start()
    await new Promise((resolve) => setTimeout(resolve, 90))
    history.stop()
    const taken = history.points().length
    expect(taken).toBeGreaterThanOrEqual(2)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(history.points()).toHaveLength(taken)
  })

  it('interpolates quantiles inside a bucket, as histogram_quantile does', () => {
    const buckets: [number, number][] = [
      [0.1, 0],
      [0.2, 10],
      [Number.POSITIVE_INFINITY, 10],
    ]
    expect(quantileMs(buckets, 0.5)).toBe(150)
    expect(quantileMs([[Number.POSITIVE_INFINITY, 0]], 0.5)).toBeNull()
    expect(
      quantileMs(
        [
          [1, 0],
          [Number.POSITIVE_INFINITY, 4],
        ],
        0.5,
      ),
    ).toBe(1000)
  })
})
