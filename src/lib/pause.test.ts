import { describe, expect, it } from 'vitest'
import { createPause } from './pause.js'

/** Resolves to how long `promise` took, in ms, or 'pending' if still waiting after `limitMs`. */
async function settleTime(promise: Promise<void>, limitMs: number): Promise<number | 'pending'> {
  const started = performance.now()
  const timeout = new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), limitMs))
  const result = await Promise.race([promise.then(() => performance.now() - started), timeout])
  return result
}

describe('createPause', () => {
  it('waits for its interval when nobody wakes it', async () => {
    const pause = createPause()
    const waited = await settleTime(pause.until(40), 1_000)
    expect(waited).not.toBe('pending')
    expect(waited as number).toBeGreaterThanOrEqual(35)
  })

  it('ends a wait at once on wake', async () => {
    const pause = createPause()
    const wait = pause.until(60_000)
    pause.wake()
    expect(await settleTime(wait, 1_000)).not.toBe('pending')
  })

  it('keeps a wake that came while the loop was busy for the next wait, once', async () => {
    const pause = createPause()
    pause.wake()
    pause.wake()
    expect(await settleTime(pause.until(60_000), 1_000)).not.toBe('pending')
    // Two wakes before one wait are one: the wait after it lasts.
    expect(await settleTime(pause.until(60_000), 100)).toBe('pending')
  })

  it('never waits once stopped, even when the stop came before the wait', async () => {
    const pause = createPause()
    const during = pause.until(60_000)
    pause.stop()
    expect(await settleTime(during, 1_000)).not.toBe('pending')
    expect(pause.stopped).toBe(true)
    expect(await settleTime(pause.until(60_000), 1_000)).not.toBe('pending')
  })
})
