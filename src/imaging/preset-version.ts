import { createHash } from 'node:crypto'
import type { Preset, ProcessingConfig } from '../config/schema.js'
import type { OutputFormat } from '../domain/formats.js'

/**
 * The version of a preset's variant in one format: a short digest of every setting that changes
 * its bytes (the width, the preset's watermark setting, the mark itself when one may be drawn, the
 * format's quality). It goes into the variant's object key and URL, so a changed preset makes new
 * objects at new URLs and never new bytes under a URL already served as `immutable`; an unchanged
 * setting keeps the version, so `pixelflow images reprocess` skips images already up to date.
 * libvips' version is left out on purpose: upgrading sharp must not move every URL.
 */
export function presetVersion(
  preset: Preset,
  format: OutputFormat,
  processing: Pick<ProcessingConfig, 'quality' | 'watermark'>,
): string {
  const mark = preset.watermark === 'off' ? null : (processing.watermark ?? null)
  const settings = {
    width: preset.width,
    watermark: preset.watermark ?? null,
    mark,
    quality: format === 'png' ? null : processing.quality[format],
  }
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 8)
}

/** A version as it appears in keys and URLs: 8 lower-case hex digits. */
export const PRESET_VERSION = /^[0-9a-f]{8}$/
