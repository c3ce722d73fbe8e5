/**
 * Where a transform miss spends its CPU, one operation at a time in this process (no HTTP, no
 * concurrency, so the figures are CPU per operation rather than throughput). Not part of
 * `npm run bench`: it backs the delivery part's figures with a breakdown.
 *
 *   1. The render: full JPEG decode vs decode with shrink-on-load (resize to ~500 px), the WebP
 *      encode alone, raw sharp vs src/transforms/render.ts's renderPlan on the same plan, and the
 *      encoders (WebP effort 0 to 4, JPEG) with their output sizes.
 *   2. The store around it: the local-disk store's put of a ~17 KiB result (temp file stream,
 *      fsync, rename, fsync of the folder) and get + readAll of a ~400 KiB original, next to
 *      plain fs calls.
 *
 *   npx tsx bench/delivery/costs.ts [photo folder]
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { loadConfig } from '../../src/config/load.js'
import { createDecodeBudget } from '../../src/imaging/decode-budget.js'
import { createLocalDiskStore } from '../../src/storage/drivers/local-disk.js'
import { readAll } from '../../src/storage/read-all.js'
import { parseOptions } from '../../src/transforms/options.js'
import { planRender } from '../../src/transforms/plan.js'
import { renderPlan } from '../../src/transforms/render.js'
import { isMain } from '../harness/child.js'
import { photoFolder } from '../harness/photos.js'
import { table } from '../harness/report.js'
import { makeSources } from './sources.js'

type Operation = (i: number, width: number) => Promise<unknown>

/** CPU ms per operation over `rounds` passes of `count` operations, the operations interleaved. */
async function cpuPerOperation(
  operations: Record<string, Operation>,
  count: number,
  rounds: number,
): Promise<Map<string, { cpuMs: number; wallMs: number; bytes: number }>> {
  const names = Object.keys(operations)
  const totals = new Map(names.map((name) => [name, { cpu: 0, wall: 0, n: 0, bytes: 0 }]))
  for (const name of names) await operations[name]!(0, 500) // warm
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) {
      const total = totals.get(name)!
      const cpu = process.cpuUsage()
      const wall = performance.now()
      for (let i = 0; i < count; i++) {
        const out = await operations[name]!(i, 480 + ((i * 7 + round * 13) % 80))
        if (Buffer.isBuffer(out)) total.bytes += out.length
      }
      const used = process.cpuUsage(cpu)
      total.cpu += (used.user + used.system) / 1000
      total.wall += performance.now() - wall
      total.n += count
    }
  }
  return new Map(
    [...totals].map(([name, t]) => [
      name,
      { cpuMs: t.cpu / t.n, wallMs: t.wall / t.n, bytes: t.bytes / t.n },
    ]),
  )
}

export async function deliveryCosts(folder: string): Promise<string> {
  const work = await mkdtemp(join(process.env.BENCH_DELIVERY_TMPDIR || tmpdir(), 'pf-costs-'))
  try {
    await mkdir(join(work, 'sources'))
    const sources = await makeSources(folder, join(work, 'sources'))
    const buffers = await Promise.all(sources.map((s) => readFile(s.path)))
    const n = buffers.length
    sharp.cache(false) // as the serve process does (the worker's setting)
    const small = await Promise.all(
      buffers.map((b) =>
        sharp(b).resize({ width: 500 }).raw().toBuffer({ resolveWithObject: true }),
      ),
    )
    const config = loadConfig({
      PIXELFLOW_DATA_DIR: work,
      PIXELFLOW_URL_SIGNING_KEYS: 'bench:pixelflow-bench-delivery-costs',
    })
    const settings = {
      limits: config.limits,
      transformLimits: config.delivery.transforms,
      quality: config.processing.quality,
      watermark: async () => null,
      budget: createDecodeBudget(0),
    } satisfies Parameters<typeof renderPlan>[2]
    const webp =
      (effort: number): Operation =>
      (i, w) =>
        sharp(buffers[i % n]!)
          .resize({ width: w })
          .webp({ quality: 80, effort })
          .toBuffer()
    const render = await cpuPerOperation(
      {
        'full JPEG decode (no resize)': (i) =>
          sharp(buffers[i % n]!)
            .raw()
            .toBuffer(),
        'decode + resize to w (shrink-on-load)': (i, w) =>
          sharp(buffers[i % n]!)
            .resize({ width: w })
            .raw()
            .toBuffer(),
        'WebP q80 encode of ~500 px pixels alone': (i) => {
          const { data, info } = small[i % n]!
          return sharp(data, { raw: info }).webp({ quality: 80 }).toBuffer()
        },
        'raw sharp: resize({ width }).webp(q80)': webp(4),
        'renderPlan (src/transforms/render.ts), w:<n>,q:80,f:webp': (i, w) => {
          const { options } = parseOptions(`w:${w},q:80,f:webp`)
          const plan = planRender(
            options,
            config.processing.presets,
            'webp',
            config.delivery.transforms,
          )
          return renderPlan(buffers[i % n]!, plan, settings)
        },
        'WebP effort 0': webp(0),
        'WebP effort 1': webp(1),
        'WebP effort 2': webp(2),
        'WebP effort 3': webp(3),
        'JPEG q80 (mozjpeg off, progressive)': (i, w) =>
          sharp(buffers[i % n]!)
            .resize({ width: w })
            .jpeg({ quality: 80, progressive: true, mozjpeg: false })
            .toBuffer(),
      },
      n,
      Number(process.env.BENCH_COSTS_ROUNDS ?? 3),
    )

    const root = join(work, 'objects')
    const store = createLocalDiskStore({ root })
    const result = randomBytes(17 * 1024)
    const original = randomBytes(400 * 1024)
    await store.put('images/a/original', original)
    await mkdir(join(work, 'plain'))
    await writeFile(join(work, 'plain', 'original'), original)
    const storage = await cpuPerOperation(
      {
        'store.put of a 17 KiB result (stream, fsync, rename, fsync folder)': (i) =>
          store.put(`images/a${i % 20}/t/r${i}-${Math.random()}.webp`, result),
        'writeFile(flush: true) + rename + fsync folder': async (i) => {
          const path = join(work, 'plain', `r${i}-${Math.random()}`)
          await writeFile(`${path}.tmp`, result, { flush: true })
          await rename(`${path}.tmp`, path)
          const folder = await open(join(work, 'plain'), 'r')
          await folder.sync()
          await folder.close()
        },
        'writeFile + rename, no fsync': async (i) => {
          const path = join(work, 'plain', `u${i}-${Math.random()}`)
          await writeFile(`${path}.tmp`, result)
          await rename(`${path}.tmp`, path)
        },
        'store.get + readAll of a 400 KiB original': async () =>
          readAll((await store.get('images/a/original'))!),
        'fs.readFile of the same 400 KiB': () => readFile(join(work, 'plain', 'original')),
        'store.get of a missing derived key': (i) => store.get(`images/a/t/missing-${i}.webp`),
        'store.head of a missing derived key': (i) => store.head(`images/a/t/missing-${i}.webp`),
      },
      200,
      2,
    )
    const rows = (figures: typeof render, withBytes: boolean) =>
      [...figures].map(([name, f]) => [
        name,
        `${f.cpuMs.toFixed(2)} ms`,
        `${f.wallMs.toFixed(2)} ms`,
        ...(withBytes ? [f.bytes ? `${(f.bytes / 1024).toFixed(1)} KiB` : ''] : []),
      ])
    return [
      `${n} sources, widths 480–559, one operation at a time, sharp.cache(false), sharp concurrency ${sharp.concurrency()}, libvips ${sharp.versions.vips}`,
      '',
      table(['Render step', 'CPU / op', 'wall / op', 'output'], rows(render, true)),
      '',
      table(['Storage step', 'CPU / op', 'wall / op'], rows(storage, false)),
    ].join('\n')
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) console.log(await deliveryCosts(photoFolder()))
