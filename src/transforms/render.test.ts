import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { makeHalves, makeJpeg, makePixelBomb, makePngAlpha } from '../../test/fixtures/images.js'
import { loadConfig } from '../config/load.js'
import type { AppError } from '../errors/index.js'
import { createDecodeBudget } from '../imaging/decode-budget.js'
import { isMissingFile } from '../imaging/sharp-errors.js'
import { createWatermarker } from '../imaging/watermark.js'
import { parseOptions } from './options.js'
import { planRender } from './plan.js'
import { outputSize, renderPlan } from './render.js'

const config = loadConfig({})
const limits = config.delivery.transforms
const presets = [{ name: 'thumb', width: 320 }]
const settings = {
  limits: config.limits,
  transformLimits: limits,
  quality: config.processing.quality,
  watermark: async () => null,
  budget: createDecodeBudget(0),
}
const plan = (segment: string, negotiated: 'jpeg' | 'webp' | 'avif' = 'jpeg') =>
  planRender(parseOptions(segment).options, presets, negotiated, limits)

async function errorOf(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run()
  } catch (error) {
    return (error as AppError).code
  }
  return undefined
}

let photo: Buffer // 800 × 600
beforeAll(async () => {
  photo = await makeJpeg(800, 600)
})

describe('planRender', () => {
  it('expands a preset, multiplies the dpr in and negotiates the format only when none is named', () => {
    expect(plan('p:thumb', 'avif')).toMatchObject({ width: 320, format: 'avif' })
    expect(plan('p:thumb,w:100,f:png', 'avif')).toMatchObject({ width: 100, format: 'png' })
    expect(plan('w:300,h:100,dpr:2')).toMatchObject({ width: 600, height: 200 })
  })

  it('gives one digest per result: same plan, same digest; any difference, another', () => {
    expect(plan('w:300,dpr:2').digest).toBe(plan('w:600').digest)
    expect(plan('p:thumb').digest).toBe(plan('w:320').digest)
    expect(plan('w:300', 'webp').digest).not.toBe(plan('w:300', 'jpeg').digest)
    expect(plan('w:300,q:50').digest).not.toBe(plan('w:300').digest)
  })

  it("carries a preset's watermark setting, and settings that change bytes change the digest", () => {
    const marked = [{ name: 'thumb', width: 320, watermark: 'off' as const }]
    const off = planRender(parseOptions('p:thumb').options, marked, 'jpeg', limits)
    expect(off.mark).toBe('off')
    expect(off.digest).not.toBe(plan('p:thumb').digest)
    expect(planRender(parseOptions('w:320').options, marked, 'jpeg', limits).mark).toBeUndefined()
    const salted = planRender(parseOptions('w:320').options, presets, 'jpeg', limits, 'q80')
    expect(salted.digest).not.toBe(plan('w:320').digest)
  })

  it.each([
    ['w:9000', 'TRANSFORM_TOO_LARGE'],
    ['w:5000,dpr:2', 'TRANSFORM_TOO_LARGE'],
    ['w:8000,h:8000', 'TRANSFORM_TOO_LARGE'],
    ['w:10,dpr:5', 'TRANSFORM_TOO_LARGE'],
    ['p:huge', 'TRANSFORM_INVALID'],
  ])('refuses %s with %s', async (segment, code) => {
    expect(await errorOf(async () => plan(segment))).toBe(code)
  })
})

describe('outputSize', () => {
  const source = { width: 800, height: 600 }
  const size = (segment: string) => outputSize(source, plan(segment))
  it.each([
    ['w:400', { width: 400, height: 300 }],
    ['h:300', { width: 400, height: 300 }],
    ['w:400,h:400', { width: 400, height: 400 }],
    ['w:400,h:400,fit:inside', { width: 400, height: 300 }],
    ['w:400,h:400,fit:outside', { width: 533, height: 400 }],
    ['w:2000', { width: 800, height: 600 }],
    ['w:1600,h:600', { width: 800, height: 300 }],
    ['f:png', { width: 800, height: 600 }],
  ])('%s → %o (never larger than the source, aspect kept when shrunk)', (segment, expected) => {
    expect(size(segment)).toEqual(expected)
  })
})

describe('renderPlan', () => {
  it('renders from a file (an original in a local store) what it renders from the bytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-render-'))
    try {
      const file = join(dir, 'original.jpg')
      await writeFile(file, photo)
      const fromFile = await renderPlan(file, plan('w:300,f:webp'), settings)
      expect(fromFile.equals(await renderPlan(photo, plan('w:300,f:webp'), settings))).toBe(true)
      // A file deleted before libvips opened it is told apart (the service answers IMAGE_NOT_FOUND).
      const gone = join(dir, 'deleted.jpg')
      const error = await renderPlan(gone, plan('w:300'), settings).catch((e: unknown) => e)
      expect(isMissingFile(gone, error)).toBe(true)
      expect(isMissingFile(photo, error)).toBe(false)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('makes exactly the planned size and format', async () => {
    for (const [segment, w, h, format] of [
      ['w:400,h:400', 400, 400, 'jpeg'],
      ['w:300,h:100,g:attention,f:webp', 300, 100, 'webp'],
      ['w:200,h:200,fit:contain,bg:ff0000,f:png', 200, 200, 'png'],
      ['w:240,f:avif', 240, 180, 'heif'],
      ['w:120,blur:2,sharpen:1', 120, 90, 'jpeg'],
    ] as const) {
      const out = await renderPlan(photo, plan(segment), settings)
      const meta = await sharp(out).metadata()
      expect([segment, meta.width, meta.height, meta.format]).toEqual([segment, w, h, format])
    }
  })

  it('crops around a focal point: the corner it names stays in the picture', async () => {
    // A focal point on the white right half keeps a white crop.
    const halves = await makeHalves()
    const mean = async (segment: string) => {
      const out = await renderPlan(halves, plan(segment), settings)
      return (await sharp(out).stats()).channels[0]!.mean
    }
    expect(await mean('w:200,h:400,g:fp:0.95:0.5')).toBeGreaterThan(240)
    expect(await mean('w:200,h:400,g:fp:0.05:0.5')).toBeLessThan(15)
    expect(await mean('w:200,h:400')).toBeGreaterThan(100) // centred: across the edge
  })

  it('flattens transparency onto white for JPEG and keeps it for PNG', async () => {
    const png = await makePngAlpha(200, 100)
    const jpeg = await sharp(await renderPlan(png, plan('w:100,f:jpeg'), settings)).metadata()
    const kept = await sharp(await renderPlan(png, plan('w:100,f:png'), settings)).metadata()
    expect([jpeg.channels, kept.hasAlpha]).toEqual([3, true])
  })

  it('marks an output the watermark applies to, at its real size', async () => {
    const marker = createWatermarker({
      text: 'PIXELFLOW',
      position: 'centre',
      opacity: 1,
      minWidth: 300,
    })
    const withMark = { ...settings, watermark: marker }
    const big = await renderPlan(photo, plan('w:400,f:png'), withMark)
    const plain = await renderPlan(photo, plan('w:400,f:png'), settings)
    const small = await renderPlan(photo, plan('w:200,f:png'), withMark)
    const smallPlain = await renderPlan(photo, plan('w:200,f:png'), settings)
    expect(big.equals(plain)).toBe(false)
    expect(small.equals(smallPlain)).toBe(true)
  })

  it('refuses an output above the pixel limit once the source fixes the missing side', async () => {
    const tall = await sharp({
      create: { width: 100, height: 4000, channels: 3, background: '#888' },
    })
      .png()
      .toBuffer()
    const tight = { ...settings, transformLimits: { ...limits, maxOutputPixels: 100_000 } }
    expect(await errorOf(() => renderPlan(tall, plan('w:100'), tight))).toBe('TRANSFORM_TOO_LARGE')
  })

  it('maps a hostile or broken source to its stable code, never a bare error', async () => {
    expect(await errorOf(() => renderPlan(makePixelBomb(), plan('w:10'), settings))).toBe(
      'IMAGE_TOO_MANY_PIXELS',
    )
    expect(await errorOf(() => renderPlan(photo.subarray(0, 300), plan('w:10'), settings))).toMatch(
      /^IMAGE_(TRUNCATED|UNDECODABLE)$/,
    )
    expect(await errorOf(() => renderPlan(Buffer.from('hello'), plan('w:10'), settings))).toBe(
      'UNSUPPORTED_MEDIA_TYPE',
    )
  })

  it('waits for room in the decode budget with a progressive JPEG, and not with a baseline one', async () => {
    const budget = createDecodeBudget(1)
    let release!: () => void
    const holding = budget(1024 * 1024, () => new Promise<void>((resolve) => (release = resolve)))
    const held = { ...settings, budget }
    // A baseline JPEG streams through libvips: nothing to wait for.
    expect((await renderPlan(photo, plan('w:100'), held)).length).toBeGreaterThan(0)
    const progressive = await sharp(photo).jpeg({ progressive: true }).toBuffer()
    let rendered = false
    const rendering = renderPlan(progressive, plan('w:100'), held).finally(() => (rendered = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(rendered).toBe(false)
    release()
    await holding
    expect((await sharp(await rendering).metadata()).width).toBe(100)
  })
})
