import { readFile } from 'node:fs/promises'
import sharp from 'sharp'
import type { Preset, WatermarkConfig } from '../config/schema.js'

export type Overlay = {
  input: Buffer
  raw: { width: number; height: number; channels: 4 }
  gravity: string
}

/** Width of the mark as a share of the variant's width. */
const MARK_SHARE = 0.25

/** A preset's watermark setting (config PresetSchema): unset follows the mark's own minWidth. */
export type MarkSetting = Preset['watermark']

/**
 * Builds the watermark overlay for a variant width, or null: below `minWidth` unless the preset
 * says `on` or a position, never when it says `off`. The mark is rendered once per width and
 * position and cached: variants of every image share the same few widths.
 */
export function createWatermarker(config: WatermarkConfig | undefined) {
  const cache = new Map<string, Promise<Overlay>>()
  return async (variantWidth: number, setting?: MarkSetting): Promise<Overlay | null> => {
    if (!config || setting === 'off') return null
    if (setting === undefined && variantWidth < config.minWidth) return null
    const position = setting === undefined || setting === 'on' ? config.position : setting
    const key = `${variantWidth}:${position}`
    let overlay = cache.get(key)
    if (!overlay) {
      const width = Math.max(16, Math.round(variantWidth * MARK_SHARE))
      overlay = renderMark({ ...config, position }, width)
      cache.set(key, overlay)
    }
    return overlay
  }
}

export type Watermarker = ReturnType<typeof createWatermarker>

async function renderMark(config: WatermarkConfig, width: number): Promise<Overlay> {
  const source = config.image ? await readFile(config.image) : textSvg(config.text ?? '', width)
  const { data, info } = await sharp(source)
    .resize({ width, withoutEnlargement: Boolean(config.image) })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  // sharp's composite has no opacity: scale the alpha channel of the mark instead.
  for (let i = 3; i < data.length; i += 4)
    data[i] = Math.round((data[i] as number) * config.opacity)
  return {
    input: data,
    raw: { width: info.width, height: info.height, channels: 4 },
    gravity: config.position,
  }
}

function textSvg(text: string, width: number): Buffer {
  const size = Math.max(8, Math.round(width / Math.max(4, text.length * 0.6)))
  const escaped = text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${Math.round(size * 1.4)}">` +
      `<text x="50%" y="${size}" text-anchor="middle" font-family="sans-serif" font-size="${size}" ` +
      `fill="white" stroke="black" stroke-width="${Math.max(1, size / 24)}">${escaped}</text></svg>`,
  )
}
