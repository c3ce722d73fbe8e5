import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { walFsync } from './wal-fsync.js'

describe('walFsync', () => {
  const tempDir = useTempDirs('pixelflow-wal-fsync-')

  it('syncs the -wal file, and takes a missing one as nothing to sync', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'a.db-wal'), 'frames')
    await expect(walFsync(join(dir, 'a.db'))()).resolves.toBeUndefined()
    await expect(walFsync(join(dir, 'missing.db'))()).resolves.toBeUndefined()
  })

  it('makes callers that come during an fsync share the one after it, never the one in flight', async () => {
    const started: string[] = []
    const finish: (() => void)[] = []
    const sync = walFsync('/x/shard.db', async (path) => {
      started.push(path)
      await new Promise<void>((resolve) => finish.push(resolve))
    })
    const settled: number[] = []
    const first = sync().then(() => settled.push(1))
    const second = sync().then(() => settled.push(2))
    const third = sync().then(() => settled.push(3))
    expect(started).toEqual(['/x/shard.db-wal'])
    finish[0]!()
    await first
    await new Promise((resolve) => setImmediate(resolve))
    // The first is done; the second and third wait for the fsync that began after them.
    expect(settled).toEqual([1])
    expect(started).toHaveLength(2)
    finish[1]!()
    await Promise.all([second, third])
    expect(settled).toEqual([1, 2, 3])
    expect(started).toHaveLength(2)
  })

  it('fails every later call once an fsync has failed: a later success could skip lost pages', async () => {
    let fail = true
    let calls = 0
    const sync = walFsync('/x/shard.db', async () => {
      calls++
      if (fail) throw new Error('EIO')
    })
    await expect(sync()).rejects.toThrow('EIO')
    fail = false
    await expect(sync()).rejects.toThrow('EIO')
    expect(calls).toBe(1)
  })
})
