import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../../../test/fixtures/temp-dirs.js'
import { createLocalDiskStore } from './local-disk.js'

const tempRoot = useTempDirs('pixelflow-disk-modes-')
const modeOf = async (path: string) => (await stat(path)).mode & 0o777

/**
 * Issue 11, finding 7: private originals were readable by any local user. The store makes its
 * folders 0700 and its files 0600 itself, whatever the umask (the test runs with the usual 022).
 */
describe('local disk store file modes', () => {
  it('creates the root and every folder 0700, every object 0600', async () => {
    const root = join(await tempRoot(), 'objects')
    const store = createLocalDiskStore({ root })
    await store.check()
    expect(await modeOf(root)).toBe(0o700)
    await store.put('images/abc/original', Buffer.from('private bytes'))
    expect(await modeOf(join(root, 'images'))).toBe(0o700)
    expect(await modeOf(join(root, 'images', 'abc'))).toBe(0o700)
    expect(await modeOf(join(root, 'images', 'abc', 'original'))).toBe(0o600)
  })
})
