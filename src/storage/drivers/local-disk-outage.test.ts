import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../../../test/fixtures/temp-dirs.js'
import { AppError } from '../../errors/index.js'
import { createLocalDiskStore, diskError } from './local-disk.js'

const tempRoot = useTempDirs('pixelflow-disk-outage-')

const errno = (code: string) => Object.assign(new Error(`${code}: boom /srv/data/x`), { code })

describe('local disk store failures', () => {
  it('a disk that cannot take the write is STORAGE_UNAVAILABLE, in our words, with a Retry-After', async () => {
    const root = await tempRoot()
    // A file where the store needs a folder: every write under it fails, as on a broken mount.
    await writeFile(join(root, 'images'), 'in the way')
    const store = createLocalDiskStore({ root })
    const error = await store
      .put('images/abc/original', Buffer.from('bytes'))
      .catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      statusCode: 503,
      retryAfterSeconds: expect.any(Number),
    })
    expect((error as Error).message).not.toContain(root)
    expect((error as Error).cause).toMatchObject({ code: expect.stringMatching(/^E/) })
  })

  it('maps I/O errnos only: a client abort or our own refusal passes through unchanged', () => {
    for (const code of ['EIO', 'ENOSPC', 'EROFS', 'EACCES', 'EMFILE', 'ESTALE'])
      expect(diskError('put', errno(code)), code).toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    const abort = errno('ECONNRESET')
    expect(diskError('put', abort)).toBe(abort)
    const refusal = new AppError('UPLOAD_TOO_LARGE', 'too big')
    expect(diskError('put', refusal)).toBe(refusal)
  })

  it('a failing request body is the caller’s error, not the disk’s', async () => {
    const store = createLocalDiskStore({ root: await tempRoot() })
    const refusal = new AppError('UPLOAD_TOO_LARGE', 'too big')
    const body = new Readable({
      read() {
        this.destroy(refusal)
      },
    })
    await expect(store.put('images/abc/original', body)).rejects.toBe(refusal)
  })
})
