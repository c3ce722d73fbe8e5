/**
 * Raw sharp, the baseline the image parts measure Pixelflow against: the same presets, formats
 * and qualities as the service's defaults, written out again on purpose (a baseline must not
 * share our code). The worker part times `naive` and `decodeOnce` (pixels only); the corpus part
 * times `equalWork`, which also makes the placeholder and the dominant colour and writes every
 * output to a file with fsync, as a worker does.
 */
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import sharp, { type Sharp } from 'sharp'
import { rgbaToThumbHash } from 'thumbhash'
import { loadConfig } from '../../src/config/load.js'
import type { OutputFormat } from '../../src/domain/formats.js'
import { type Elapsed, startClock } from '../harness/measure.js'

const { presets, formats, quality } = loadConfig({}).processing
const maxWidth = Math.max(...presets.map((p) => p.width))

/** The encoder options of src/worker/pipeline/encode.ts. */
function encode(pipeline: Sharp, format: OutputFormat): Sharp {
  if (format === 'webp') return pipeline.webp({ quality: quality.webp })
  if (format === 'jpeg')
    return pipeline
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: quality.jpeg, mozjpeg: false, progressive: true })
  throw new Error(`The baselines only make the default formats, not ${format}`)
}

/** libvips sets up each codec on first use; doing it here keeps that out of every timed window. */
export async function warmUpSharp(): Promise<void> {
  sharp.cache(false) // as the service's worker does
  const tiny = sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
  await Promise.all([
    tiny.clone().webp().toBuffer(),
    tiny.clone().jpeg({ progressive: true }).toBuffer(),
  ])
}

/** (a) What most code does: one pipeline per variant, each decoding the file again. */
export async function naive(path: string): Promise<void> {
  const variants = presets.flatMap((preset) =>
    formats.map((format) => ({ width: preset.width, format })),
  )
  await Promise.all(
    variants.map(({ width, format }) =>
      encode(
        sharp(path, { autoOrient: true })
          .resize({ width, withoutEnlargement: true })
          .toColourspace('srgb'),
        format,
      ).toBuffer(),
    ),
  )
}

async function decode(input: string | Buffer) {
  return sharp(input, { autoOrient: true })
    .resize({ width: maxWidth, withoutEnlargement: true })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
}

type Decoded = Awaited<ReturnType<typeof decode>>

/** Every preset × format from the decoded pixels, the formats of a preset in parallel. */
async function eachOutput(
  { data, info }: Decoded,
  use: (output: Buffer, name: string) => Promise<void>,
): Promise<void> {
  for (const preset of presets) {
    const width = Math.min(preset.width, info.width)
    await Promise.all(
      formats.map(async (format) =>
        use(
          await encode(sharp(data, { raw: info }).resize({ width }), format).toBuffer(),
          `${preset.name}.${format}`,
        ),
      ),
    )
  }
}

/** (b) Our approach without the service around it: decode, orient and shrink once, then resize the pixels per preset. */
export async function decodeOnce(path: string): Promise<void> {
  await eachOutput(await decode(path), async () => {})
}

/**
 * (c) All a worker does for an image, in plain sharp: read the original, decode once, a
 * ThumbHash placeholder (100 px RGBA) and the dominant colour (stats of a 64 px downscale), then
 * every output written to its own file under `outDir` and fsynced.
 */
export async function equalWork(path: string, outDir: string): Promise<void> {
  const decoded = await decode(await readFile(path))
  const { data, info } = decoded
  const small = await sharp(data, { raw: info })
    .resize({ width: 100, height: 100, fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
  rgbaToThumbHash(small.info.width, small.info.height, small.data)
  const tiny = await sharp(data, { raw: info })
    .resize({ width: 64, height: 64, fit: 'inside' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  await sharp(tiny.data, { raw: tiny.info }).stats()
  const stem = path.slice(path.lastIndexOf('/') + 1)
  await eachOutput(decoded, async (output, name) => {
    const file = await open(join(outDir, `${stem}.${name}`), 'w')
    try {
      await file.writeFile(output)
      await file.sync()
    } finally {
      await file.close()
    }
  })
}

/** `concurrency` lanes take photos off one list: what a worker with that many job slots does. */
export async function inLanes(
  photos: string[],
  concurrency: number,
  work: (path: string) => Promise<void>,
): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < photos.length) await work(photos[next++]!)
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
}

export async function timeBaseline(
  photos: string[],
  concurrency: number,
  work: (path: string) => Promise<void>,
): Promise<Elapsed> {
  await warmUpSharp()
  const clock = startClock()
  await inLanes(photos, concurrency, work)
  return clock.read()
}
