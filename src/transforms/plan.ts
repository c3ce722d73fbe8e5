import { createHash } from 'node:crypto'
import sharp from 'sharp'
import type { DeliveryConfig, Preset } from '../config/schema.js'
import type { OutputFormat } from '../domain/formats.js'
import type { FocalPoint } from '../domain/image.js'
import { AppError } from '../errors/index.js'
import { canonicalOf, type Fit, type TransformOptions } from './options.js'

/**
 * What to render, fully resolved: the preset expanded, the device pixel ratio multiplied in, the
 * format chosen. Two requests with the same plan get the same bytes, so the plan's digest names
 * the derived object and is its ETag.
 */
export interface RenderPlan {
  /** Output size in device pixels; an absent side follows the source's aspect ratio. */
  width?: number
  height?: number
  fit: Fit
  gravity: string
  quality?: number
  format: OutputFormat
  blur?: number
  sharpen?: number
  background?: string
  /** The preset's watermark setting, when the options name a preset (src/imaging/watermark.ts). */
  mark?: Preset['watermark']
  /** base64url digest of everything above and the libvips version: the derived object's name. */
  digest: string
}

export type TransformLimits = Pick<
  DeliveryConfig['transforms'],
  'maxOutputPixels' | 'maxDimension' | 'maxDpr'
>

/**
 * Resolves options into a plan, refusing what exceeds the limits (TRANSFORM_TOO_LARGE) or names
 * an unknown preset (TRANSFORM_INVALID). `negotiated` is the format `Accept` chose, used when the
 * options name none.
 */
export function planRender(
  options: TransformOptions,
  presets: readonly Preset[],
  negotiated: OutputFormat,
  limits: TransformLimits,
  /** Settings outside the plan that change its bytes (default qualities, the mark): in the digest. */
  salt = '',
  /** The image's stored focal point: a cover crop that names no gravity keeps it in frame. */
  focal: FocalPoint | null = null,
): RenderPlan {
  const preset = options.preset && presets.find((p) => p.name === options.preset)
  if (options.preset && !preset)
    throw new AppError('TRANSFORM_INVALID', `There is no preset '${options.preset}'`)
  const dpr = options.dpr ?? 1
  if (dpr > limits.maxDpr)
    throw new AppError('TRANSFORM_TOO_LARGE', `dpr ${dpr} is above the limit of ${limits.maxDpr}`)
  const explicit = options.width !== undefined || options.height !== undefined
  const width = scaled(explicit ? options.width : preset ? preset.width : undefined, dpr)
  const height = scaled(options.height, dpr)
  checkSize(width, height, limits)
  const fit = options.fit ?? 'cover'
  const crops = fit === 'cover' && width !== undefined && height !== undefined
  const stored = focal && crops ? `fp:${round2(focal.x)}:${round2(focal.y)}` : undefined
  const plan: Omit<RenderPlan, 'digest'> = {
    width,
    height,
    fit,
    gravity: options.gravity ?? stored ?? 'c',
    quality: options.quality,
    format: options.format ?? negotiated,
    blur: options.blur,
    sharpen: options.sharpen,
    background: options.background,
    mark: preset ? preset.watermark : undefined,
  }
  return { ...plan, digest: digestOf(plan, salt) }
}

/**
 * The size check for a plan with one side left to the source's aspect ratio, once the source's
 * size is known (render.ts): the output must stay within the same limits.
 */
export function checkSize(
  width: number | undefined,
  height: number | undefined,
  limits: TransformLimits,
): void {
  const largest = Math.max(width ?? 0, height ?? 0)
  if (largest > limits.maxDimension)
    throw new AppError(
      'TRANSFORM_TOO_LARGE',
      `A side of ${largest} px is above the limit of ${limits.maxDimension}`,
    )
  if (width === undefined || height === undefined) return
  const pixels = width * height
  if (pixels > limits.maxOutputPixels)
    throw new AppError(
      'TRANSFORM_TOO_LARGE',
      `${pixels} output pixels are above the limit of ${limits.maxOutputPixels}`,
    )
}

const round2 = (value: number) => Number(value.toFixed(2))

function scaled(size: number | undefined, dpr: number): number | undefined {
  return size === undefined ? undefined : Math.max(1, Math.round(size * dpr))
}

/** The renderer's version is part of the digest: a libvips upgrade may change bytes, so names too. */
const RENDERER = `r1-vips${sharp.versions.vips}`

function digestOf(plan: Omit<RenderPlan, 'digest'>, salt: string): string {
  const { width, height, fit, gravity, quality, format, blur, sharpen, background, mark } = plan
  const text = canonicalOf({
    width,
    height,
    fit,
    gravity,
    quality,
    format,
    blur,
    sharpen,
    background,
  })
  return createHash('sha256')
    .update(`${RENDERER}\n${text}\nmark:${mark ?? ''}\n${salt}`)
    .digest('base64url')
    .slice(0, 24)
}
