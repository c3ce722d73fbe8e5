import sharp, { type Metadata, type Region, type ResizeOptions, type Sharp } from 'sharp'
import type { LimitsConfig, ProcessingConfig } from '../config/schema.js'
import { maxDimensionOf } from '../domain/formats.js'
import { type DecodeBudget, wholeImageBytes } from '../imaging/decode-budget.js'
import { withFormat } from '../imaging/format.js'
import { encodeError, sourceFailure } from '../imaging/sharp-errors.js'
import type { Overlay } from '../imaging/watermark.js'
import { checkSize, type RenderPlan, type TransformLimits } from './plan.js'

export interface RenderSettings {
  limits: LimitsConfig
  transformLimits: TransformLimits
  quality: ProcessingConfig['quality']
  /** The watermark for an output this wide under a preset's setting, or null (src/imaging/watermark.ts). */
  watermark: (width: number, setting?: RenderPlan['mark']) => Promise<Overlay | null>
  /**
   * Room for decoders that hold the whole image (a progressive JPEG's coefficients), shared with
   * the worker's decodes in one process (src/imaging/decode-budget.ts). A render here decodes
   * and encodes in one pipeline, so it holds its share until its output is made.
   */
  budget: DecodeBudget
}

const POSITION: Record<string, ResizeOptions['position']> = {
  n: 'north',
  ne: 'northeast',
  e: 'east',
  se: 'southeast',
  s: 'south',
  sw: 'southwest',
  w: 'west',
  nw: 'northwest',
  c: 'centre',
  attention: sharp.strategy.attention,
  entropy: sharp.strategy.entropy,
}

/**
 * Renders one plan from the original: its bytes, or its file on a local store (read as libvips
 * decodes, never whole in memory). libvips does the work on its own threads (sharp is
 * asynchronous), so the event loop only waits; the render queue bounds how many run at once.
 * The output is never larger than the source (no upscaling) and never larger than the limits.
 */
export async function renderPlan(
  source: Buffer | string,
  plan: RenderPlan,
  settings: RenderSettings,
): Promise<Buffer> {
  const input = sharp(source, {
    limitInputPixels: settings.limits.maxInputPixels,
    failOn: 'error',
    autoOrient: true,
  })
  let meta: Metadata
  try {
    meta = await input.metadata()
  } catch (error) {
    throw sourceFailure(source, error) // a missing file: the caller answers that the image is gone
  }
  const size = outputSize(meta.autoOrient, plan)
  checkSize(size.width, size.height, settings.transformLimits)
  let pipeline = resized(input, meta.autoOrient, plan, size)
  if (plan.blur) pipeline = pipeline.blur(plan.blur)
  if (plan.sharpen) pipeline = pipeline.sharpen({ sigma: plan.sharpen })
  if (plan.format === 'jpeg' || plan.background)
    pipeline = pipeline.flatten({ background: `#${plan.background ?? 'ffffff'}` })
  return settings.budget(wholeImageBytes(meta), async () => {
    try {
      if (await settings.watermark(size.width, plan.mark))
        pipeline = await marked(pipeline, plan, settings)
      return await withFormat(pipeline, plan.format, settings.quality, plan.quality).toBuffer()
    } catch (error) {
      throw encodeError(error, plan.format)
    }
  })
}

/**
 * composite() runs before resize() in one sharp pipeline, so the resized pixels are taken out
 * raw and marked in a second one. The mark is chosen for their real width and left off when it
 * would not fit (a very wide, short result), as the worker does.
 */
async function marked(pipeline: Sharp, plan: RenderPlan, settings: RenderSettings): Promise<Sharp> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true })
  const overlay = await settings.watermark(info.width, plan.mark)
  const out = sharp(data, { raw: info })
  return overlay && overlay.raw.width <= info.width && overlay.raw.height <= info.height
    ? out.composite([overlay])
    : out
}

interface Size {
  width: number
  height: number
}

/**
 * The output size: the requested box (one side missing follows the source's aspect; `inside` and
 * `outside` take the source's aspect too), shrunk as a whole so it never exceeds the source
 * (no upscaling) nor the format's largest side. sharp is then asked for exactly this size.
 */
export function outputSize(source: Size, plan: RenderPlan): Size {
  const ratio = source.width / source.height
  let { width, height } = plan
  if (width === undefined && height === undefined) ({ width, height } = source)
  else if (width === undefined) width = Math.max(1, Math.round(height! * ratio))
  else if (height === undefined) height = Math.max(1, Math.round(width / ratio))
  const box = fitBox(source, { width: width!, height: height! }, plan.fit)
  const largest = Math.max(box.width, box.height)
  const scale = Math.min(
    1,
    source.width / box.width,
    source.height / box.height,
    maxDimensionOf(plan.format) / largest,
  )
  return {
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  }
}

/** `inside` keeps the whole image within the box, `outside` covers it; the others fill the box. */
function fitBox(source: Size, box: Size, fit: RenderPlan['fit']): Size {
  if (fit !== 'inside' && fit !== 'outside') return box
  const scale = (fit === 'inside' ? Math.min : Math.max)(
    box.width / source.width,
    box.height / source.height,
  )
  return {
    width: Math.max(1, Math.round(source.width * scale)),
    height: Math.max(1, Math.round(source.height * scale)),
  }
}

function resized(input: Sharp, source: Size, plan: RenderPlan, size: Size): Sharp {
  if (plan.gravity.startsWith('fp:') && plan.fit === 'cover')
    return focalCrop(input, source, plan.gravity, size)
  const { width, height } = size
  return input.resize({
    width,
    height,
    fit: plan.fit,
    position: POSITION[plan.gravity] ?? 'centre',
    background: `#${plan.background ?? 'ffffff'}`,
    withoutEnlargement: true,
  })
}

/**
 * Cover crop around a focal point: scale so the box is covered, then cut the box out so the
 * point sits as near its middle as the edges allow. sharp has no focal point of its own.
 */
function focalCrop(input: Sharp, source: Size, gravity: string, size: Size): Sharp {
  const [, fx, fy] = gravity.split(':').map(Number) as [number, number, number]
  const scale = Math.max(size.width / source.width, size.height / source.height)
  const scaledWidth = Math.max(size.width, Math.round(source.width * scale))
  const scaledHeight = Math.max(size.height, Math.round(source.height * scale))
  const region: Region = {
    left: clamp(Math.round(fx * scaledWidth - size.width / 2), 0, scaledWidth - size.width),
    top: clamp(Math.round(fy * scaledHeight - size.height / 2), 0, scaledHeight - size.height),
    width: size.width,
    height: size.height,
  }
  return input.resize({ width: scaledWidth, height: scaledHeight, fit: 'fill' }).extract(region)
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max)
}
