import { assertPurgePath, closedError, type Purger } from '../purger.js'

/** No cache in front (or one that expires by itself): nothing to remove. */
export function createNonePurger(): Purger {
  let closed = false
  return {
    driver: 'none',
    async purge(paths) {
      if (closed) throw closedError('none')
      for (const path of paths) assertPurgePath(path)
    },
    async close() {
      closed = true
    },
  }
}
