import { readdir, stat, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  describeObjectStore,
  failingStream,
} from '../../../test/contracts/object-store.contract.js'
import { useTempDirs } from '../../../test/fixtures/temp-dirs.js'
import { createLocalDiskStore } from './local-disk.js'

const tempRoot = useTempDirs('pixelflow-disk-')

describeObjectStore('local disk', async () =>
  createLocalDiskStore({ root: join(await tempRoot(), 'objects') }),
)

describe('local disk store', () => {
  it('leaves no .tmp- file in the directory after a failed put', async () => {
    const root = await tempRoot()
    const store = createLocalDiskStore({ root })
    await store.put('img/ok', Buffer.from('fine'))
    await expect(
      store.put('img/broken', failingStream([Buffer.alloc(200_000, 1)])),
    ).rejects.toThrow()
    expect(await readdir(join(root, 'img'))).toEqual(['ok'])
  })

  it('writes nothing outside its root for an escaping key', async () => {
    const parent = await tempRoot()
    const store = createLocalDiskStore({ root: join(parent, 'objects') })
    await expect(store.put('../outside', Buffer.from('x'))).rejects.toThrow()
    expect(await readdir(parent)).not.toContain('outside')
  })

  it('touch moves an object’s mtime (what scan reports) to now', async () => {
    const root = await tempRoot()
    const store = createLocalDiskStore({ root })
    await store.put('images/a/t/x/d.webp', Buffer.from('derived'))
    const path = join(root, 'images/a/t/x/d.webp')
    const hourAgo = new Date(Date.now() - 3_600_000)
    await utimes(path, hourAgo, hourAgo)
    const before = Date.now()
    await store.touch?.('images/a/t/x/d.webp')
    const info = await stat(path)
    // utimes takes seconds as a float: a millisecond of rounding.
    expect(info.mtimeMs).toBeGreaterThanOrEqual(before - 1)
    expect(info.atimeMs).toBeGreaterThanOrEqual(before - 1)
    const entries = []
    for await (const entry of store.scan('images/a/')) entries.push(entry)
    expect(entries).toEqual([{ key: 'images/a/t/x/d.webp', size: 7, modifiedAt: info.mtimeMs }])
  })

  it('touch of a missing key resolves and creates nothing', async () => {
    const root = await tempRoot()
    const store = createLocalDiskStore({ root })
    await expect(store.touch?.('images/gone/t/x/d.webp')).resolves.toBeUndefined()
    expect(await readdir(root)).toEqual([])
  })

  it('touch refuses an escaping key, and changes nothing outside its root', async () => {
    const parent = await tempRoot()
    const store = createLocalDiskStore({ root: join(parent, 'objects') })
    const hourAgo = new Date(Date.now() - 3_600_000)
    await utimes(parent, hourAgo, hourAgo)
    await expect(store.touch?.('../objects')).rejects.toThrow()
    expect(Math.round((await stat(parent)).mtimeMs)).toBe(hourAgo.getTime())
  })
})
