import { readdir } from 'node:fs/promises'
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
})
