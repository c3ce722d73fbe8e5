import { describe, expect, it } from 'vitest'
import { createPurger } from './create-purger.js'

describe('createPurger', () => {
  it('opens the driver the config names', async () => {
    expect((await createPurger({ driver: 'none' })).driver).toBe('none')
    const nginx = await createPurger({ driver: 'nginx', cacheDir: '/nonexistent', levels: '1:2' })
    expect(nginx.driver).toBe('nginx')
    // Nothing cached there: a purge is fine.
    await expect(nginx.purge(['/i/abc/thumb.webp'])).resolves.toBeUndefined()
    const cloudfront = await createPurger({
      driver: 'cloudfront',
      distributionId: 'E123',
      endpoint: 'http://127.0.0.1:9',
      batchMs: 1000,
    })
    expect(cloudfront.driver).toBe('cloudfront')
    // Nothing batched: close sends nothing.
    await cloudfront.close()
  })

  it('refuses nginx levels that nginx would refuse', async () => {
    await expect(createPurger({ driver: 'nginx', cacheDir: '/c', levels: '3' })).rejects.toThrow(
      /levels/,
    )
  })
})
