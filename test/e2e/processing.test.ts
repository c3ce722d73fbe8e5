import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import sharp, { type Sharp } from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { objectKeys } from '../../src/domain/image.js'
import { createMetrics } from '../../src/observability/metrics.js'
import { createImageProcessor } from '../../src/worker/process-image.js'
import { startWorker } from '../../src/worker/run-worker.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

describe('processing options and failures', () => {
  let h: Harness | undefined
  afterEach(async () => h?.close())

  const bytesOf = async (url: string) =>
    (await h!.pf.app.inject({ method: 'GET', url: new URL(url).pathname })).rawPayload

  /** Mean absolute difference between a variant's corner and the same corner of a plain resize. */
  async function cornerDifference(
    source: Buffer,
    variant: any,
    gravity: 'southeast' | 'northwest',
  ): Promise<number> {
    const side = Math.round(variant.width / 5)
    const region = (img: Sharp) =>
      img
        .extract(
          gravity === 'northwest'
            ? { left: 0, top: 0, width: side, height: side }
            : { left: variant.width - side, top: variant.height - side, width: side, height: side },
        )
        .removeAlpha()
        .raw()
        .toBuffer()
    const expected = await region(
      sharp(await sharp(source).resize(variant.width, variant.height).toBuffer()),
    )
    const actual = await region(sharp(await bytesOf(variant.url)))
    let sum = 0
    for (let i = 0; i < expected.length; i++) sum += Math.abs(expected[i]! - actual[i]!)
    return sum / expected.length
  }

  /** A grey 1200×800 JPEG processed with a fully opaque text mark from 1000 px up; its WebP variants. */
  async function markedGrey(env: Record<string, string>) {
    h = await startHarness({
      PIXELFLOW_WATERMARK_TEXT: 'PIXELFLOW',
      PIXELFLOW_WATERMARK_OPACITY: '1',
      PIXELFLOW_WATERMARK_MIN_WIDTH: '1000',
      ...env,
    })
    const source = await sharp({
      create: { width: 1200, height: 800, channels: 3, background: '#808080' },
    })
      .jpeg()
      .toBuffer()
    const image = await h.waitSettled((await h.upload(source, 'image/jpeg')).json().id)
    const pick = (name: string) =>
      image.variants.find((v: any) => v.name === name && v.format === 'webp')
    return { source, pick }
  }

  it('a text watermark marks variants at or above the minimum width only', async () => {
    const { source, pick } = await markedGrey({})
    const marked = await cornerDifference(source, pick('medium'), 'southeast')
    const unmarked = await cornerDifference(source, pick('thumb'), 'southeast')
    expect(marked).toBeGreaterThan(4)
    expect(unmarked).toBeLessThan(2)
  })

  it('presets a small source would make the same size share one object instead of copies', async () => {
    h = await startHarness({ PIXELFLOW_PRESETS: 'thumb:320,medium:1024,large:2048' })
    const image = await h.waitSettled(
      (await h.upload(await makeJpeg(600, 400), 'image/jpeg')).json().id,
    )
    const webp = (name: string) =>
      image.variants.find((v: any) => v.name === name && v.format === 'webp')
    // thumb is 320 wide; medium and large would both be the 600 px source.
    expect([webp('thumb').width, webp('medium').width, webp('large').width]).toEqual([
      320, 600, 600,
    ])
    const etag = async (name: string) =>
      (await h!.pf.app.inject(`/i/${image.id}/${name}.webp`)).headers.etag
    expect(await etag('large')).toBe(await etag('medium'))
    expect(await etag('thumb')).not.toBe(await etag('medium'))
    const objects = (await h.leftovers()).objects.filter((k) => k.startsWith(`images/${image.id}/`))
    // original + thumb and medium in two formats: large wrote nothing of its own.
    expect(objects).toHaveLength(5)
  })

  it("a preset's own watermark setting wins over the minimum width: on somewhere, off", async () => {
    const { source, pick } = await markedGrey({
      PIXELFLOW_PRESETS: 'thumb:320:northwest,medium:1024:off',
    })
    expect(await cornerDifference(source, pick('thumb'), 'northwest')).toBeGreaterThan(4)
    expect(await cornerDifference(source, pick('thumb'), 'southeast')).toBeLessThan(2)
    expect(await cornerDifference(source, pick('medium'), 'southeast')).toBeLessThan(2)
  })

  it('an image watermark goes where it is told, with its opacity', async () => {
    const dir = (await startHarness()).dir
    const mark = join(dir, 'mark.png')
    await writeFile(
      mark,
      await sharp({ create: { width: 400, height: 400, channels: 4, background: '#ff0000' } })
        .png()
        .toBuffer(),
    )
    h = await startHarness({
      PIXELFLOW_WATERMARK_IMAGE: mark,
      PIXELFLOW_WATERMARK_POSITION: 'northwest',
      PIXELFLOW_WATERMARK_OPACITY: '0.5',
      PIXELFLOW_WATERMARK_MIN_WIDTH: '300',
    })
    const source = await sharp({
      create: { width: 800, height: 600, channels: 3, background: '#0000ff' },
    })
      .jpeg()
      .toBuffer()
    const image = await h.waitSettled((await h.upload(source, 'image/jpeg')).json().id)
    const thumb = image.variants.find((v: any) => v.name === 'thumb' && v.format === 'webp')
    const { data } = await sharp(await bytesOf(thumb.url))
      .raw()
      .toBuffer({ resolveWithObject: true })
    // Half red over blue: both channels near 128 at the top-left; untouched blue at the far corner.
    expect(data[0]).toBeGreaterThan(100)
    expect(data[2]).toBeGreaterThan(100)
    expect(data[data.length - 3]).toBeLessThan(30)
  })

  it('transient failures retry with backoff, then the job is dead-lettered and the image failed', async () => {
    h = await startHarness({
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_QUEUE_MAX_ATTEMPTS: '3',
      PIXELFLOW_QUEUE_BACKOFF_BASE_MS: '10',
      PIXELFLOW_QUEUE_BACKOFF_MAX_MS: '50',
    })
    const { id } = (await h.upload(await makeJpeg(), 'image/jpeg')).json()
    // The original vanishes: a storage fault, not the image's fault, so it is retried.
    await h.pf.deps.store.delete(objectKeys.original(id))
    const { queue, metadata, store } = h.pf.deps
    const logger = pino({ level: 'silent' })
    const handler = createImageProcessor({
      metadata,
      store,
      processing: h.config.processing,
      limits: h.config.limits,
      logger,
      onChanged: h.pf.invalidate,
    })
    const worker = startWorker({
      queue,
      handler,
      concurrency: 1,
      pollMs: 5,
      leaseMs: 5000,
      logger,
      metrics: createMetrics(),
    })
    const image = await h.waitSettled(id)
    await worker.stop(1000)
    expect(image.status).toBe('failed')
    expect(image.failure.code).toBe('RETRIES_EXHAUSTED')
    expect(image.attempts).toBe(3)
    const dead = await queue.listDead(10)
    expect(dead).toHaveLength(1)
    expect(dead[0]!.errors).toHaveLength(3)
    expect(dead[0]!.errors[0]).toMatch(/missing from the object store/)
  })

  it('ThumbHash by default, BlurHash when configured', async () => {
    h = await startHarness({ PIXELFLOW_PLACEHOLDER: 'blurhash' })
    const image = await h.waitSettled((await h.upload(await makeJpeg(), 'image/jpeg')).json().id)
    // BlurHash with 4×3 components: 1 size char + 1 max-AC char + 4 DC chars + 11 × 2 AC chars.
    expect(image.placeholder).toEqual({
      type: 'blurhash',
      value: expect.stringMatching(/^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{28}$/),
    })
  })

  it('the placeholder kind is stored per image: images made before a change keep theirs', async () => {
    h = await startHarness()
    const first = await h.waitSettled((await h.upload(await makeJpeg(), 'image/jpeg')).json().id)
    expect(first.placeholder.type).toBe('thumbhash')
    const dir = h.dir
    await h.pf.close()
    // The same data directory, restarted with the other setting (removed here: the new
    // harness's own directory is another one).
    h = await startHarness({ PIXELFLOW_DATA_DIR: dir, PIXELFLOW_PLACEHOLDER: 'blurhash' })
    try {
      const second = await h.waitSettled(
        (await h.upload(await makeJpeg(320, 200), 'image/jpeg')).json().id,
      )
      expect(second.placeholder.type).toBe('blurhash')
      expect((await h.getImage(first.id)).body.placeholder).toEqual(first.placeholder)
    } finally {
      await h.close()
      h = undefined
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a dominant colour per image, #rrggbb', async () => {
    h = await startHarness()
    const res = await h.upload(await makeJpeg(), 'image/jpeg')
    expect(res.json().dominantColor).toBeNull()
    const image = await h.waitSettled(res.json().id)
    expect(image.dominantColor).toMatch(/^#[0-9a-f]{6}$/)
  })
})
