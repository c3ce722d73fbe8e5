import { describe, expect, it } from 'vitest'
import { AppError } from '../errors/index.js'
import { createRenderQueue } from './render-queue.js'

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('render queue', () => {
  it('runs at most `concurrency` at once, queues up to `maxQueued`, and sheds the rest with TRANSFORM_BUSY', async () => {
    const queue = createRenderQueue(2, 3)
    const gates = Array.from({ length: 5 }, deferred)
    let running = 0
    let peak = 0
    const tasks = gates.map((gate, i) =>
      queue.run(async () => {
        running++
        peak = Math.max(peak, running)
        await gate.promise
        running--
        return i
      }),
    )
    expect([queue.active, queue.waiting]).toEqual([2, 3])
    const shed = await queue.run(async () => 'never').catch((e: AppError) => e)
    expect(shed).toBeInstanceOf(AppError)
    expect(shed).toMatchObject({ code: 'TRANSFORM_BUSY', statusCode: 503, retryAfterSeconds: 1 })
    for (const gate of gates) gate.resolve()
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4])
    expect(peak).toBe(2)
    expect([queue.active, queue.waiting]).toEqual([0, 0])
  })

  it('frees the slot of a task that failed', async () => {
    const queue = createRenderQueue(1, 0)
    await expect(queue.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await queue.run(async () => 'next')).toBe('next')
  })
})
