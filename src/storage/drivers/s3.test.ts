import { describe, expect, it } from 'vitest'
import { createS3Store } from './s3.js'

// Nothing listens here: these tests must fail before any request, or not at all.
const OFFLINE = {
  bucket: 'b',
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  forcePathStyle: true,
  maxAttempts: 1,
}

describe('S3 store, without a server', () => {
  it.each(['../x', '/abs', 'a/../../b', 'a//b', ''])(
    'refuses the key %j before sending anything',
    async (key) => {
      const store = await createS3Store({ ...OFFLINE, accessKeyId: 'k', secretAccessKey: 's' })
      await expect(store.put(key, Buffer.from('x'))).rejects.toThrow('Invalid object key')
      await expect(store.get(key)).rejects.toThrow('Invalid object key')
      await expect(store.head(key)).rejects.toThrow('Invalid object key')
      await expect(store.delete(key)).rejects.toThrow('Invalid object key')
    },
  )

  it('refuses a prefix that is not a key', async () => {
    await expect(createS3Store({ ...OFFLINE, prefix: 'a/../b' })).rejects.toThrow(
      'Invalid object key',
    )
  })

  it('refuses parts smaller than the S3 minimum of 5 MiB', async () => {
    await expect(createS3Store({ ...OFFLINE, partSizeBytes: 1024 * 1024 })).rejects.toThrow(
      'at least 5 MiB',
    )
  })

  it('wants both halves of a static credential, or neither', async () => {
    await expect(createS3Store({ ...OFFLINE, accessKeyId: 'k' })).rejects.toThrow(
      'both accessKeyId and secretAccessKey',
    )
  })
})
