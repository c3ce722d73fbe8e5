import { utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { newImageId } from '../domain/ids.js'
import { objectKeys } from '../domain/image.js'
import { createLocalDiskStore } from '../storage/drivers/local-disk.js'
import type { ObjectStore } from '../storage/object-store.js'
import { startDerivedBudgetSweep, sweepDerivedBudget } from './derived-budget.js'

const tempRoot = useTempDirs('pixelflow-derived-budget-')

const HOUR = 60 * 60 * 1000
const image = newImageId(3)
const derivedKey = (n: number) => objectKeys.derived(image, `w:${n}`, `digest${n}`, 'webp')

/** A local-disk store in a temp dir, and a writer of objects of a given size and age. */
async function diskStore() {
  const root = await tempRoot()
  const store = createLocalDiskStore({ root })
  const now = Date.now()
  return {
    store,
    async write(key: string, size: number, ageMs: number) {
      await store.put(key, Buffer.alloc(size, 1))
      const at = new Date(now - ageMs)
      await utimes(join(root, key), at, at)
    },
  }
}

/**
 * Four derived results of 100 bytes, 4 h to 1 h old, beside objects the sweep must never delete,
 * all older than any of them and larger: an original, a variant, keys under the derived folder
 * that are not derived results, one of an id that is not an image's, one outside `images/`.
 */
async function populated() {
  const disk = await diskStore()
  const derived = [4, 3, 2, 1].map(derivedKey)
  for (const [i, key] of derived.entries()) await disk.write(key, 100, (4 - i) * HOUR)
  const untouchable = [
    objectKeys.original(image),
    objectKeys.variant(image, 'thumb', 'webp'),
    `images/${image}/t/notes.txt`,
    `images/${image}/t/${Buffer.from('w:9').toString('base64url')}/digest.WEBP`,
    objectKeys.derived('not-an-image-id', 'w:9', 'digest', 'webp'),
    'uploads/staged',
  ]
  for (const key of untouchable) await disk.write(key, 1000, 48 * HOUR)
  return { ...disk, derived, untouchable }
}

const allKeys = (store: ObjectStore) => store.list('')

/** Which of `derived` are still stored, sorted. */
async function stillStored(store: ObjectStore, derived: string[]): Promise<string[]> {
  const stored = new Set(await allKeys(store))
  return derived.filter((key) => stored.has(key)).sort()
}

describe('sweepDerivedBudget', () => {
  it('deletes the least recently used derived results until they fit, and nothing else', async () => {
    const { store, derived, untouchable } = await populated()
    const report = await sweepDerivedBudget(store, 250)
    expect(report).toEqual({
      scanned: 4,
      totalBytes: 400,
      deleted: 2,
      freedBytes: 200,
      failed: 0,
      failures: [],
      aborted: false,
    })
    // The two oldest went; 200 bytes are left, within the 250.
    expect(await allKeys(store)).toEqual([...derived.slice(2), ...untouchable].sort())
  })

  it('keeps a result that was served (touched) over an older one that was not', async () => {
    const { store, derived } = await populated()
    await store.touch?.(derived[0]!) // the oldest, served just now
    await sweepDerivedBudget(store, 250)
    expect(await stillStored(store, derived)).toEqual([derived[0], derived[3]].sort())
  })

  it('deletes every derived result when the budget is below the smallest, still nothing else', async () => {
    const { store, untouchable } = await populated()
    const report = await sweepDerivedBudget(store, 1)
    expect(report).toMatchObject({ deleted: 4, freedBytes: 400 })
    expect(await allKeys(store)).toEqual([...untouchable].sort())
  })

  it('deletes nothing when the derived results are at the budget', async () => {
    const { store } = await populated()
    const before = await allKeys(store)
    expect(await sweepDerivedBudget(store, 400)).toMatchObject({ totalBytes: 400, deleted: 0 })
    expect(await allKeys(store)).toEqual(before)
  })

  it('with budget 0 does nothing at all, not even a scan', async () => {
    const { store } = await populated()
    const before = await allKeys(store)
    const scan = vi.fn(store.scan)
    const report = await sweepDerivedBudget({ scan, delete: store.delete }, 0)
    expect(report).toMatchObject({ scanned: 0, deleted: 0, failed: 0 })
    expect(scan).not.toHaveBeenCalled()
    expect(await allKeys(store)).toEqual(before)
  })

  it('breaks ties of age by key, so that every sweep deletes the same ones', async () => {
    const { store, write } = await diskStore()
    const keys = [3, 1, 2].map(derivedKey)
    for (const key of keys) await write(key, 100, HOUR)
    const deleted: string[] = []
    const recording = {
      scan: store.scan,
      delete: async (key: string) => {
        deleted.push(key)
        await store.delete(key)
      },
    }
    await sweepDerivedBudget(recording, 100)
    expect(deleted).toEqual([...keys].sort().slice(0, 2))
  })

  it('goes on past a delete that fails, and reports it', async () => {
    const { store, derived } = await populated()
    const flaky = {
      scan: store.scan,
      delete: async (key: string) => {
        if (key === derived[0]) throw new Error('EACCES: permission denied')
        await store.delete(key)
      },
    }
    const report = await sweepDerivedBudget(flaky, 250)
    expect(report).toMatchObject({
      deleted: 2,
      freedBytes: 200,
      failed: 1,
      failures: [{ key: derived[0], error: expect.stringContaining('EACCES') }],
    })
    // The next oldest went in its place: the total is within the budget all the same.
    expect(await stillStored(store, derived)).toEqual([derived[0], derived[3]].sort())
  })

  it('stops between two objects when its signal is aborted', async () => {
    const { store, derived } = await populated()
    const stopping = new AbortController()
    const stopAfterOne = {
      scan: store.scan,
      delete: async (key: string) => {
        await store.delete(key)
        stopping.abort()
      },
    }
    const report = await sweepDerivedBudget(stopAfterOne, 1, { signal: stopping.signal })
    expect(report).toMatchObject({ deleted: 1, aborted: true })
    expect(await stillStored(store, derived)).toEqual(derived.slice(1).sort())
  })
})

const quietLogger = () => ({ info: vi.fn(), warn: vi.fn() })

describe('startDerivedBudgetSweep', () => {
  it('sweeps every interval, logs what it deleted, and stops', async () => {
    const { store, derived, untouchable } = await populated()
    const logger = quietLogger()
    const sweeper = startDerivedBudgetSweep({ store, budgetBytes: 250, intervalMs: 20, logger })
    await eventually(async () =>
      expect(await allKeys(store)).toEqual([...derived.slice(2), ...untouchable].sort()),
    )
    await expect(sweeper.stop()).resolves.toBeUndefined()
    expect(logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ deleted: 2, freedBytes: 200, budgetBytes: 250 }),
      expect.any(String),
    )
    // Later sweeps found nothing to do: one summary only.
    expect(logger.info).toHaveBeenCalledTimes(1)
    expect(logger.warn).not.toHaveBeenCalled()
  })

  it('runs the first sweep one interval after start, not at once', async () => {
    const { store } = await populated()
    const scan = vi.fn(store.scan)
    const sweeper = startDerivedBudgetSweep({
      store: { scan, delete: store.delete },
      budgetBytes: 1,
      intervalMs: 60_000,
      logger: quietLogger(),
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(scan).not.toHaveBeenCalled()
    await sweeper.stop()
  })

  it('warns on a failed sweep and tries again next interval', async () => {
    const logger = quietLogger()
    const scan = vi.fn(() => {
      throw new Error('disk gone')
    })
    const sweeper = startDerivedBudgetSweep({
      store: { scan, delete: async () => {} },
      budgetBytes: 1,
      intervalMs: 10,
      logger,
    })
    await eventually(() => expect(scan.mock.calls.length).toBeGreaterThanOrEqual(2))
    await sweeper.stop()
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.objectContaining({ message: 'disk gone' }) }),
      expect.any(String),
    )
  })

  it('never runs two sweeps at once, and stop() waits for the running one', async () => {
    const { store, derived } = await populated()
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    let running = 0
    let most = 0
    const slow: Pick<ObjectStore, 'scan' | 'delete'> = {
      async *scan(prefix) {
        most = Math.max(most, ++running)
        try {
          await released
          yield* store.scan(prefix)
        } finally {
          running--
        }
      },
      delete: store.delete,
    }
    const sweeper = startDerivedBudgetSweep({
      store: slow,
      budgetBytes: 1,
      intervalMs: 10,
      logger: quietLogger(),
    })
    await eventually(() => running === 1)
    const manual = sweeper.runOnce() // queued behind the timer's sweep
    let stopped = false
    const stop = sweeper.stop().then(() => (stopped = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(stopped).toBe(false)
    release()
    await stop
    expect(most).toBe(1)
    // Stopped: the scan it waited for was cut short, so nothing was judged and nothing deleted.
    expect(await manual).toMatchObject({ aborted: true, deleted: 0 })
    expect(await stillStored(store, derived)).toEqual([...derived].sort())
  })
})
