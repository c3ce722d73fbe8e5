import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createObjectStore } from './create-object-store.js'

describe('createObjectStore', () => {
  it('picks the driver the config names', async () => {
    expect(
      (await createObjectStore({ driver: 'local', root: join(tmpdir(), 'pixelflow-unused') }))
        .driver,
    ).toBe('local')
    const s3 = await createObjectStore({
      driver: 's3',
      bucket: 'bucket',
      region: 'us-east-1',
      forcePathStyle: false,
    })
    expect(s3.driver).toBe('s3')
  })
})
