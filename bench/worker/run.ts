/**
 * Part 1: worker throughput. Pixelflow end to end (queue → worker → variants on disk → rows
 * committed → ack) against raw sharp making the same variants, at the same concurrency C (one job
 * slot per core), alternating sides over BENCH_ROUNDS rounds (default 3) and keeping the median.
 *
 *   npx tsx bench/worker/run.ts [photo folder]
 */
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { isMain, nextMessage } from '../harness/child.js'
import { listPhotos, photoFolder } from '../harness/photos.js'
import { startPlain } from '../harness/plain.js'
import type { PartResult } from '../harness/report.js'
import { runAlone } from '../harness/standalone.js'
import { inRoundOrder, median } from '../harness/stats.js'
import { TARGETS } from '../harness/targets.js'
import type { Side, SideRun } from './side.js'

const SIDES: readonly Side[] = ['pixelflow', 'naive', 'decode-once']
const LABELS: Record<Side, string> = {
  pixelflow: 'Pixelflow (upload → queue → worker → ready)',
  naive: 'sharp naive (one pipeline per variant)',
  'decode-once': 'sharp decode-once (like ours)',
}
const SIDE_FILE = fileURLToPath(new URL('./side.ts', import.meta.url))
/** Pixelflow's target: at least this share of the best raw-sharp throughput. */
const TARGET_RATIO = TARGETS['worker-rps'].target

export async function benchWorkers(
  folder: string,
  rounds = Number(process.env.BENCH_ROUNDS ?? 3),
): Promise<PartResult> {
  const photos = listPhotos(folder)
  const concurrency = availableParallelism()
  const runs: SideRun[] = []
  for (let round = 0; round < Math.max(2, rounds); round++) {
    for (const side of inRoundOrder(SIDES, round)) {
      const child = await startPlain(SIDE_FILE, {
        BENCH_SIDE: side,
        BENCH_FOLDER: folder,
        BENCH_CONCURRENCY: String(concurrency),
      })
      const run = await nextMessage<SideRun>(child, 240_000)
      runs.push(run)
      console.error(
        `  round ${round + 1} ${side}: ${run.seconds.toFixed(2)} s, ${(run.images / run.seconds).toFixed(2)} images/s, ` +
          `CPU ${run.cpuSeconds.toFixed(1)} s, peak RSS ${Math.round(run.peakRssMb)} MB, load ${run.loadAverage.toFixed(1)}`,
      )
    }
  }

  const of = (side: Side) => runs.filter((r) => r.side === side)
  const rate = (side: Side) => median(of(side).map((r) => r.images / r.seconds))
  /** CPU per image barely moves when other processes share the cores, so it backs up the wall-clock ratio. */
  const cpuPerImage = (side: Side) => median(of(side).map((r) => r.cpuSeconds / r.images))
  const peak = (side: Side) => Math.max(...of(side).map((r) => r.peakRssMb))
  const best = rate('naive') >= rate('decode-once') ? 'naive' : 'decode-once'
  const ratio = rate('pixelflow') / rate(best)
  return {
    title: `Worker throughput: ${photos.length} photos, C = ${concurrency}, ${of('pixelflow').length} runs per side`,
    rows: [
      ...SIDES.map((side) => ({
        side: LABELS[side],
        figure: `${rate(side).toFixed(2)} images/s (CPU ${cpuPerImage(side).toFixed(2)} s/image)`,
        peakRssMb: peak(side),
      })),
      {
        side: `ratio Pixelflow / ${best}`,
        figure:
          `${ratio.toFixed(2)} images/s ratio (target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'missed'}); ` +
          `CPU-per-image ratio ${(cpuPerImage(best) / cpuPerImage('pixelflow')).toFixed(2)}`,
      },
    ],
    runs,
    ratios: [{ id: 'worker-rps', value: ratio }],
  }
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  await runAlone('worker', `Worker throughput on ${folder}`, () => benchWorkers(folder), { folder })
}
