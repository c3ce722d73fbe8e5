import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'

/**
 * Issue 11, finding 6: a valid 1000×20000 PNG passed WebP's 16383 px limit, was decoded five times,
 * dead-lettered, and libvips' message reached the client. Every variant must fit its format.
 */
describe('a valid image taller than WebP allows', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({
      PIXELFLOW_FORMATS: 'webp,jpeg,avif',
      PIXELFLOW_PRESETS: 'thumb:320,large:2048',
      // Retries, if any, come at once: the test sees them instead of waiting out the backoff.
      PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '1',
      PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '10',
    })
  })
  afterAll(() => h.close())

  it('ends ready on the first attempt, every variant inside its format’s limits', async () => {
    const png = await sharp({
      create: { width: 1000, height: 20_000, channels: 3, background: '#2a6f97' },
    })
      .png()
      .toBuffer()
    const res = await h.upload(png, 'image/png')
    expect(res.statusCode, res.body).toBe(202)
    const image = await h.waitSettled(res.json().id, 120_000)
    expect(image.status, JSON.stringify(image.failure)).toBe('ready')
    const row = await h.pf.deps.metadata.forImageId(image.id)!.getImage(image.id)
    expect(row!.attempts).toBe(1)
    const sizes = Object.fromEntries(
      image.variants.map((v: any) => [`${v.name}.${v.format}`, [v.width, v.height]]),
    )
    expect(sizes).toEqual({
      'thumb.webp': [320, 6400],
      'thumb.jpeg': [320, 6400],
      'thumb.avif': [320, 6400],
      'large.webp': [819, 16_383],
      'large.jpeg': [1000, 20_000],
      'large.avif': [819, 16_384],
    })
    const large = await h.pf.app.inject({ method: 'GET', url: `/i/${image.id}/large.webp` })
    expect(large.statusCode).toBe(200)
    const meta = await sharp(large.rawPayload).metadata()
    expect([meta.width, meta.height]).toEqual([819, 16_383])
    expect(await h.pf.deps.queue.stats()).toMatchObject({ dead: 0, delayed: 0 })
  }, 180_000)
})
