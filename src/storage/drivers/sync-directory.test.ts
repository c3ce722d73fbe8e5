import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

const opened: string[] = []
vi.mock('node:fs/promises', async (original) => {
  const real = await original<typeof import('node:fs/promises')>()
  return {
    ...real,
    open: (path: string, flags: string) => {
      opened.push(path)
      return real.open(path, flags)
    },
  }
})
const { syncDirectory } = await import('./sync-directory.js')

let dir: string
beforeEach(async () => {
  opened.length = 0
  dir = await mkdtemp(join(tmpdir(), 'pixelflow-sync-dir-'))
})
afterEach(() => rm(dir, { recursive: true, force: true }))

describe('syncDirectory', () => {
  it('makes one fsync for the first call and one shared fsync for all who asked during it', async () => {
    const first = syncDirectory(dir)
    const during = Array.from({ length: 9 }, () => syncDirectory(dir))
    await Promise.all([first, ...during])
    expect(opened).toEqual([dir, dir])
  })

  it('answers a call made while an fsync runs only after an fsync that started later', async () => {
    const order: string[] = []
    const first = syncDirectory(dir).then(() => order.push(`first done after ${opened.length}`))
    const second = syncDirectory(dir).then(() => order.push(`second done after ${opened.length}`))
    await Promise.all([first, second])
    expect(order).toEqual(['first done after 1', 'second done after 2'])
  })

  it('starts afresh once the folder is idle, and keeps folders apart', async () => {
    await syncDirectory(dir)
    const other = await mkdtemp(join(tmpdir(), 'pixelflow-sync-dir-'))
    try {
      await Promise.all([syncDirectory(dir), syncDirectory(other)])
      expect(opened).toEqual([dir, dir, other])
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })

  it('gives the error to every caller that shared the fsync', async () => {
    const missing = join(dir, 'gone')
    const calls = [syncDirectory(missing), syncDirectory(missing), syncDirectory(missing)]
    const outcomes = await Promise.allSettled(calls)
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected'])
    // And the folder is not stuck: a later call tries again.
    await expect(syncDirectory(dir)).resolves.toBeUndefined()
  })
})
