import sharp from 'sharp'
import type { LimitsConfig, ProcessingConfig } from '../config/schema.js'
import type { OutputFormat } from '../domain/formats.js'
import { type Image, objectKeys, type Variant } from '../domain/image.js'
import { createDecodeBudget, type DecodeBudget } from '../imaging/decode-budget.js'
import { presetVersion } from '../imaging/preset-version.js'
import { createWatermarker } from '../imaging/watermark.js'
import type { Completion } from '../metadata/shard-store.js'
import { inSpan } from '../observability/tracing.js'
import type { ObjectStore } from '../storage/object-store.js'
import { decodable } from '../storage/read-all.js'
import { decodeSource } from './pipeline/decode.js'
import { dominantColor } from './pipeline/dominant-color.js'
import { encodeVariant, variantSize } from './pipeline/encode.js'
import { makePlaceholder } from './pipeline/placeholder.js'
import { makeThumbnail } from './pipeline/thumbnail.js'

export interface RenderDeps {
  store: ObjectStore
  processing: ProcessingConfig
  limits: LimitsConfig
  /** The process's decode budget, shared with on-the-fly transforms (start/); its own one otherwise. */
  decodeBudget?: DecodeBudget
}

/**
 * Renders an image's variants from its stored original and writes their objects: what a
 * `process-image` job and `pixelflow images reprocess` both do. Each variant's key and row carry
 * its preset's version, so a changed preset writes new objects beside the ones already served,
 * and a variant the image already has at the current version is kept as it is.
 */
export function createVariantRenderer(deps: RenderDeps) {
  // A process-wide libvips setting; rendering variants is the only pipeline use in a process.
  sharp.cache(deps.processing.vipsCacheMb > 0 ? { memory: deps.processing.vipsCacheMb } : false)
  const budget = deps.decodeBudget ?? createDecodeBudget(deps.processing.decodeMemoryMb)
  const watermark = createWatermarker(deps.processing.watermark)
  const maxWidth = Math.max(...deps.processing.presets.map((p) => p.width))
  const version = (preset: ProcessingConfig['presets'][number], format: OutputFormat) =>
    presetVersion(preset, format, deps.processing)

  return async function renderVariants(image: Image, signal: AbortSignal): Promise<Completion> {
    const source = await decodable(deps.store, objectKeys.original(image.id))
    if (!source) throw new Error(`Original of ${image.id} is missing from the object store`)
    const decoded = await inSpan('decode', { 'pixelflow.bytes': image.bytes }, () =>
      decodeSource(source, deps.limits, maxWidth, budget),
    )
    const thumbnail = await makeThumbnail(decoded)
    const placeholder = await makePlaceholder(deps.processing.placeholder, thumbnail)
    const color = dominantColor(thumbnail)
    const variants: Variant[] = []
    // A source smaller than several presets would give each the same pixels: the first preset
    // of a size writes the object, the others point at it instead of storing identical copies.
    const made = new Map<string, Variant>()
    for (const preset of deps.processing.presets) {
      signal.throwIfAborted()
      const markWidth = Math.min(preset.width, decoded.info.width)
      const overlay = await watermark(markWidth, preset.watermark)
      const sameAs = (format: OutputFormat) => {
        const { width, height } = variantSize(decoded, preset.width, format)
        return `${format}:${width}x${height}:${overlay ? `${markWidth}@${overlay.gravity}` : 0}`
      }
      // Reprocessing: a variant already at this preset's version keeps its object and row, so
      // bytes served as immutable are never written again (a newer libvips may encode otherwise).
      const current = (format: OutputFormat) =>
        image.variants.find(
          (v) =>
            v.name === preset.name && v.format === format && v.version === version(preset, format),
        )
      const missing = deps.processing.formats.filter(
        (format) => !current(format) && !made.has(sameAs(format)),
      )
      const encoded = await Promise.all(
        missing.map((format) =>
          inSpan('encode', { 'pixelflow.width': preset.width, 'pixelflow.format': format }, () =>
            encodeVariant(decoded, preset.width, format, deps.processing.quality, overlay),
          ),
        ),
      )
      for (const [i, format] of missing.entries()) {
        const out = encoded[i]!
        const key = objectKeys.variant(image.id, preset.name, format, version(preset, format))
        await deps.store.put(key, out.data)
        made.set(sameAs(format), {
          name: preset.name,
          format,
          width: out.width,
          height: out.height,
          bytes: out.data.length,
          etag: out.etag,
          key,
          version: null,
        })
      }
      // Each row names its own preset's version, even when it points at another preset's object.
      for (const format of deps.processing.formats)
        variants.push(
          current(format) ?? {
            ...made.get(sameAs(format))!,
            name: preset.name,
            version: version(preset, format),
          },
        )
    }
    return { variants, placeholder, dominantColor: color }
  }
}

export type VariantRenderer = ReturnType<typeof createVariantRenderer>
