import { AppError } from '../errors/index.js'

export interface RenderQueue {
  /** Runs `task` when a slot is free; throws TRANSFORM_BUSY at once when too many already wait. */
  run<T>(task: () => Promise<T>): Promise<T>
  readonly active: number
  readonly waiting: number
}

/**
 * A bounded render queue: at most `concurrency` renders at once and `maxQueued` waiting. Past
 * that a request is shed with 503 and Retry-After instead of holding a decoded original in memory
 * behind the others; a CDN or a client then retries once the burst has passed.
 */
export function createRenderQueue(concurrency: number, maxQueued: number): RenderQueue {
  let active = 0
  const waiting: (() => void)[] = []

  async function slot(): Promise<void> {
    if (active < concurrency) {
      active++
      return
    }
    if (waiting.length >= maxQueued)
      throw new AppError(
        'TRANSFORM_BUSY',
        'Too many transforms are being rendered; retry shortly',
        {
          retryAfterSeconds: 1,
        },
      )
    // The slot is handed over by release(): `active` stays counted for the waiter.
    await new Promise<void>((resolve) => waiting.push(resolve))
  }

  function release(): void {
    const next = waiting.shift()
    if (next) next()
    else active--
  }

  return {
    async run(task) {
      await slot()
      try {
        return await task()
      } finally {
        release()
      }
    },
    get active() {
      return active
    },
    get waiting() {
      return waiting.length
    },
  }
}
