import { describe, expect, it } from 'vitest'
import { backoffMs } from './backoff.js'

const BASE = 1_000
const MAX = 30_000
const almostOne = () => 1 - Number.EPSILON

describe('backoffMs', () => {
  it('doubles its ceiling with each attempt, from base, up to max', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 20].map((attempt) =>
      backoffMs(attempt, BASE, MAX, almostOne),
    )
    expect(ceilings).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000])
  })

  it('never overflows to Infinity or NaN for huge attempt counts', () => {
    expect(backoffMs(10_000, BASE, MAX, almostOne)).toBe(MAX)
  })

  it('treats attempt 0 (and below) like the first attempt', () => {
    expect(backoffMs(0, BASE, MAX, almostOne)).toBe(BASE)
    expect(backoffMs(-3, BASE, MAX, almostOne)).toBe(BASE)
  })

  it('scales the ceiling by the random draw (full jitter), in whole milliseconds', () => {
    expect(backoffMs(3, BASE, MAX, () => 0)).toBe(0)
    expect(backoffMs(3, BASE, MAX, () => 0.5)).toBe(2_000)
    expect(backoffMs(3, BASE, MAX, () => 0.123456)).toBe(494)
  })

  it('spreads real random delays over [0, ceiling]', () => {
    const delays = Array.from({ length: 2_000 }, () => backoffMs(4, BASE, MAX))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThanOrEqual(8_000)
    expect(delays.every(Number.isInteger)).toBe(true)
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length
    expect(mean).toBeGreaterThan(3_500) // uniform: 4,000 ± ~52 (σ/√n)
    expect(mean).toBeLessThan(4_500)
  })
})
