import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { describeObjectStore, failingStream } from '../../../test/contracts/object-store.contract.js'
import { createLocalDiskStore } from './local-disk.js'

const dirs: string[] = []
async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-disk-'))
  dirs.push(dir)
  return dir
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

describeObjectStore('local disk', async () => createLocalDiskStore({ root: join(await tempRoot(), 'objects') }))

describe('local disk store', () => {
  it('leaves no .tmp- file in the directory after a failed put', async () => {
    const root = await tempRoot()
    const store = createLocalDiskStore({ root })
    await store.put('img/ok', Buffer.from('fine'))
    await expect(store.put('img/broken', failingStream([Buffer.alloc(200_000, 1)]))).rejects.toThrow()
    expect(await readdir(join(root, 'img'))).toEqual(['ok'])
  })

  it('writes nothing outside its root for an escaping key', async () => {
    const parent = await tempRoot()
    const store = createLocalDiskStore({ root: join(parent, 'objects') })
    await expect(store.put('../outside', Buffer.from('x'))).rejects.toThrow()
    expect(await readdir(parent)).not.toContain('outside')
  })
})
