import { describe, expect, it } from 'vitest'
import { slotSecondsPerImage, TARGET_UTILISATION, WORKER } from './figures.js'
import { planCapacity, targetBacklog } from './plan.js'

describe('capacity plan', () => {
  it('worker time scales linearly with megapixels from the corpus mean', () => {
    expect(slotSecondsPerImage(WORKER.corpusMeanMegapixels)).toBeCloseTo(2 / 2.91, 6)
    expect(slotSecondsPerImage(8)).toBeCloseTo(2 * slotSecondsPerImage(4), 9)
  })

  it('20 uploads/s of 4 MP photos', () => {
    const plan = planCapacity({ uploadsPerSecond: 20, photoMegapixels: 4, latencySeconds: 10 })
    // 4 MP: 0.687 × 4 / 5.72 = 0.481 s per slot; 20/s keeps 9.6 slots busy; at 70 %: 14 cores.
    expect(plan.secondsPerImage).toBeCloseTo(0.481, 3)
    expect(plan.busySlots).toBeCloseTo(9.62, 2)
    expect(plan.workerCores).toBe(14)
    expect(plan.workerProcesses).toBe(7)
    expect(plan.apiProcesses).toBe(1)
    expect(plan.shards).toBe(1)
    expect(plan.queues.every((q) => q.fits)).toBe(true)
    expect(plan.targetBacklogPerWorker).toBe(19)
  })

  it('100 × that needs more than one SQLite queue and several shards', () => {
    const plan = planCapacity({ uploadsPerSecond: 2000, photoMegapixels: 4, latencySeconds: 10 })
    expect(plan.workerCores).toBe(Math.ceil((2000 * plan.secondsPerImage) / TARGET_UTILISATION))
    expect(plan.apiProcesses).toBe(Math.ceil(2000 / (57.9 * 0.7)))
    expect(plan.queues.find((q) => q.driver === 'sqlite')?.fits).toBe(false)
    expect(plan.shardWritesPerSecond).toBe(6000)
    expect(plan.shards).toBe(Math.ceil(6000 / (654 * 0.7)))
  })

  it('the backlog target leaves the latency for the waiting jobs and the job itself', () => {
    expect(targetBacklog(10, 0.5)).toBe(19)
    expect(targetBacklog(0.2, 0.5)).toBe(1)
  })
})
