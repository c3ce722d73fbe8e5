import Fastify from 'fastify'
import { describe, expect, it, vi } from 'vitest'
import { createMetrics } from '../../../observability/metrics.js'
import { Problem } from '../../schemas.js'
import { adminMetricsRoutes } from './metrics.js'

/** Ref'd timers only: an unref'd one does not keep the process alive and is not listed. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

/** The route alone (the admin scope is checked by /v1's hook, tested in test/e2e/admin-api). */
describe('GET /admin/metrics', () => {
  it('serves deltas sampled on an unref’d timer that stops when the app closes', async () => {
    const metrics = createMetrics()
    const sampled = vi.spyOn(metrics.httpRequests, 'get')
    const before = timers()
    const app = Fastify()
    app.addSchema(Problem)
    await app.register(adminMetricsRoutes, { metrics, history: { intervalMs: 25 } })
    await app.ready()
    expect(timers()).toBe(before)

    metrics.uploads.inc({ result: 'accepted' }, 4)
    await new Promise((resolve) => setTimeout(resolve, 120))
    const body = (await app.inject({ method: 'GET', url: '/admin/metrics' })).json()
    expect(body.intervalMs).toBe(25)
    expect(body.points.length).toBeGreaterThanOrEqual(2)
    // The 4 uploads land in exactly one interval, whichever it was.
    expect(body.points.reduce((n: number, p: { uploads: number }) => n + p.uploads, 0)).toBe(4)
    expect(Number.isNaN(Date.parse(body.points[0].at))).toBe(false)

    await app.close()
    const samples = sampled.mock.calls.length
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(sampled.mock.calls.length).toBe(samples)
  })
})
