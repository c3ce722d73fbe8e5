import type { Sharp } from 'sharp'
import type { ProcessingConfig } from '../config/schema.js'
import type { OutputFormat } from '../domain/formats.js'

/**
 * The one place an output format's encoder settings live, shared by the worker's variants and the
 * on-the-fly transforms, so a preset rendered either way has the same bytes for the same pixels.
 * `qualityOverride` is a transform's `q:` option.
 */
export function withFormat(
  pipeline: Sharp,
  format: OutputFormat,
  quality: ProcessingConfig['quality'],
  qualityOverride?: number,
): Sharp {
  switch (format) {
    case 'webp':
      return pipeline.webp({ quality: qualityOverride ?? quality.webp })
    case 'jpeg':
      return pipeline.jpeg({
        quality: qualityOverride ?? quality.jpeg,
        mozjpeg: false,
        progressive: true,
      })
    case 'avif':
      return pipeline.avif({ quality: qualityOverride ?? quality.avif, effort: 4 })
    case 'png':
      return pipeline.png({ compressionLevel: 6 })
  }
}
