import { setTimeout as sleep } from 'node:timers/promises'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { readAll } from '../../src/storage/read-all.js'
import { createDerivedCache } from '../../src/transforms/derived.js'
import type { RenderLocks } from '../../src/transforms/locks/render-locks.js'

/**
 * `processes` derived caches on one store, each with its own locks (as separate processes have),
 * asked for one new result `requests` times at once, spread over them. Returns how many renders
 * ran and every body, read out. The render takes `renderMs` so the requests overlap.
 */
export async function concurrentMisses(
  store: ObjectStore,
  locks: RenderLocks[],
  requests: number,
  renderMs = 150,
) {
  const caches = locks.map((l) =>
    createDerivedCache({ store, locks: l, lockTtlMs: 10_000, pollMs: 20 }),
  )
  let renders = 0
  const render = async () => {
    renders++
    await sleep(renderMs)
    return Buffer.from('rendered-bytes')
  }
  const results = await Promise.all(
    Array.from({ length: requests }, (_, i) =>
      caches[i % caches.length]!.get('images/x/t/a/b.webp', render),
    ),
  )
  const bodies = await Promise.all(
    results.map(async (r) => String(Buffer.isBuffer(r.body) ? r.body : await readAll(r.body))),
  )
  return { renders, bodies, kinds: results.map((r) => r.kind) }
}
