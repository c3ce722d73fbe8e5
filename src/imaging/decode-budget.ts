import { Semaphore } from 'async-mutex'
import type { Metadata } from 'sharp'

const MB = 1024 * 1024

/**
 * What a decoder holds for the whole image, whatever the size it is shrunk to on load. Most
 * sources stream through libvips a few lines at a time, but two kinds cannot:
 *   progressive JPEG  libjpeg keeps every DCT coefficient of the image until the last scan:
 *                     2 bytes per coefficient, 64 per 8×8 block, for each component at its
 *                     chroma resolution. The corpus's 5640×3172 4:2:0 photo holds 54 MB, its
 *                     5120×2880 4:4:4 one 88 MB, while the pixels kept from them are 7 MB.
 *   interlaced PNG    libpng hands out the rows only after the last pass: the whole image.
 * Both are estimates from the header; 0 for everything that streams.
 */
export function wholeImageBytes(
  meta: Pick<
    Metadata,
    'format' | 'width' | 'height' | 'isProgressive' | 'chromaSubsampling' | 'channels' | 'depth'
  >,
): number {
  if (!meta.isProgressive) return 0
  const pixels = meta.width * meta.height
  if (meta.format === 'jpeg') return pixels * 2 * planesOf(meta.chromaSubsampling, meta.channels)
  if (meta.format === 'png') return pixels * meta.channels * (meta.depth === 'ushort' ? 2 : 1)
  return 0
}

/** Full-resolution planes' worth of coefficients: 4:2:0 stores two chroma planes at a quarter. */
function planesOf(subsampling: string | undefined, channels: number): number {
  if (channels === 1) return 1
  const chroma: Record<string, number> = { '4:4:4': 1, '4:2:2': 0.5, '4:4:0': 0.5, '4:2:0': 0.25 }
  return 1 + (channels - 1) * (chroma[subsampling?.slice(0, 5) ?? ''] ?? 1)
}

export type DecodeBudget = <T>(bytes: number, decode: () => Promise<T>) => Promise<T>

/**
 * Runs decodes so that the whole-image memory of those running at once stays within `megabytes`
 * (one process's worker slots share it). Two progressive photos of 20 MP arriving together would
 * otherwise both hold their coefficients: the corpus's two largest decoded at once peak at
 * 273–275 MB, one after the other at 194 MB (bench/RESULTS.md, 2026-12-07), for 0.6–0.7 → 1.0–1.1 s
 * of wall time. A decode that streams (0 bytes) never waits; one larger than the whole
 * budget waits until it runs alone, and is never refused (maxInputPixels refuses, this only
 * orders). Waiters are served in arrival order, so a large one is not passed over for ever.
 */
export function createDecodeBudget(megabytes: number): DecodeBudget {
  // Counted in whole MB: async-mutex walks its waiters once per unit of the semaphore's value on
  // every release, which in bytes took 1.5 s of CPU per decode.
  const capacity = Math.max(1, Math.round(megabytes))
  const semaphore = new Semaphore(capacity)
  return (bytes, decode) => {
    if (bytes <= 0 || megabytes <= 0) return decode()
    return semaphore.runExclusive(decode, Math.min(Math.ceil(bytes / MB), capacity))
  }
}
