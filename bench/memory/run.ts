/**
 * Peak memory of the one-process service (`npm start`: API, relay and workers in one process),
 * the whole process tree sampled every 100 ms (VmRSS of it and every descendant), under two loads:
 *   corpus  every photo uploaded one after another (each POST after the previous 202), then
 *           until every image is ready;
 *   burst   BURST concurrent uploads of a ~20 MB JPEG (the largest photo at quality 100, 4:4:4,
 *           each with bytes of its own), every one of which must be accepted (202, none shed);
 *           the run ends once the last 202 is in and the workers have rendered for 10 s more.
 * Two sides, alternating: glibc's and V8's defaults, and the settings `npm start` and the
 * container image give the service (deploy/process-env.ts: fewer glibc arenas, large buffers
 * handed back when freed, a small young generation). Target: peak ≤ 300 MB (issue 16). The RSS over
 * time of every run is drawn in bench/memory/rss.svg. Each run also reports the API's event-loop
 * delay through the load (p99 and max, from the server's own /metrics): rendering beside the API
 * must not starve it (issue 16: p99 ≤ 20 ms).
 *
 *   npx tsx bench/memory/run.ts [photo folder]
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { PROCESS_ENV } from '../../deploy/process-env.js'
import { stackedChart } from '../capacity/svg.js'
import { type EventLoopDelay, eventLoopDelay, post, readyTimes } from '../e2e/client.js'
import {
  createApiKey,
  ensureBuilt,
  freePort,
  HOST,
  startPixelflow,
  stop,
  untilReady,
} from '../e2e/processes.js'
import { sleep } from '../harness/async.js'
import { isMain } from '../harness/child.js'
import { RATE_LIMITS_OFF } from '../harness/config.js'
import { treeRssMb } from '../harness/measure.js'
import { listPhotos, mimeOf, photoFolder } from '../harness/photos.js'
import type { PartResult } from '../harness/report.js'
import { runAlone } from '../harness/standalone.js'
import { numbered } from '../upload/run.js'

type Side = 'defaults' | 'start'
type Load = 'corpus' | 'burst'
const SIDES: readonly Side[] = ['defaults', 'start']
const LABELS: Record<Side, string> = {
  defaults: 'glibc and V8 defaults',
  // Named from the list itself, so the report cannot go on naming settings the service no longer gets.
  start: `npm start, container: ${Object.entries(PROCESS_ENV)
    .map(([name, value]) => (name === 'NODE_OPTIONS' ? value : `${name}=${value}`))
    .join(', ')}`,
}
const BURST = Number(process.env.BENCH_MEMORY_BURST ?? 100)
const SAMPLE_MS = 100
const TARGET_MB = 300
const CHART = fileURLToPath(new URL('./rss.svg', import.meta.url))
const UNSET = Object.fromEntries(Object.keys(PROCESS_ENV).map((name) => [name, undefined]))

export interface MemoryRun {
  side: Side
  load: Load
  peakMb: number
  seconds: number
  /** [seconds since the load began, tree RSS MB] */
  samples: [number, number][]
  eventLoop: EventLoopDelay
}

/** Samples the tree's RSS until stopped; the peak is the highest sample. */
function sampler(pid: number) {
  const started = performance.now()
  const samples: [number, number][] = []
  const take = () => samples.push([(performance.now() - started) / 1000, treeRssMb(pid)])
  take()
  const timer = setInterval(take, SAMPLE_MS)
  return {
    stop() {
      clearInterval(timer)
      take()
      return samples
    },
  }
}

async function runOnce(side: Side, load: Load, folder: string, big: Buffer): Promise<MemoryRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-memory-bench-'))
  const env: Record<string, string> = {
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_HOST: HOST,
    PIXELFLOW_LOG_LEVEL: 'warn',
    ...RATE_LIMITS_OFF,
  }
  let child: ChildProcess | undefined
  try {
    const key = createApiKey(env, 'bench')
    const port = await freePort()
    const metricsPort = await freePort()
    child = startPixelflow(['serve'], {
      ...env,
      PIXELFLOW_PORT: String(port),
      PIXELFLOW_METRICS_PORT: String(metricsPort),
      // The side decides: a value in this shell must not leak into the defaults side.
      ...(side === 'start' ? PROCESS_ENV : UNSET),
    })
    await untilReady(port, child)
    const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')
    for (const [name, value] of Object.entries(PROCESS_ENV))
      if (environ.includes(`${name}=${value}`) !== (side === 'start'))
        throw new Error(`${side}: the server's ${name} is not the side's`)
    const base = `http://${HOST}:${port}/v1/images`
    const metricsUrl = `http://${HOST}:${metricsPort}/metrics`
    await eventLoopDelay(metricsUrl) // resets it: what follows covers the load alone
    const watch = sampler(child.pid!)
    const started = performance.now()
    if (load === 'corpus') {
      const ids: string[] = []
      for (const path of listPhotos(folder))
        ids.push(await post(base, key, mimeOf(path), readFileSync(path)))
      await readyTimes(base, key, ids)
    } else {
      await Promise.all(
        Array.from({ length: BURST }, (_, i) => post(base, key, 'image/jpeg', numbered(big, i))),
      )
      await sleep(10_000)
    }
    const seconds = (performance.now() - started) / 1000
    const samples = watch.stop()
    const eventLoop = await eventLoopDelay(metricsUrl)
    const peakMb = Math.max(...samples.map(([, mb]) => mb))
    return { side, load, peakMb, seconds, samples, eventLoop }
  } finally {
    if (child) await stop(child)
    await rm(dataDir, { recursive: true, force: true })
  }
}

function drawChart(runs: MemoryRun[]): void {
  const colors: Record<Side, string> = { defaults: '#d62728', start: '#1f77b4' }
  const xMax = Math.ceil(Math.max(...runs.map((r) => r.seconds)) / 10) * 10
  const panel = (load: Load) => ({
    title: `${load === 'corpus' ? 'corpus, one upload after another, until all ready' : `${BURST} concurrent ~20 MB uploads, then 10 s`}: RSS of the process tree, MB (target ≤ ${TARGET_MB})`,
    series: runs
      .filter((r) => r.load === load)
      .map((r, i) => ({
        name: `${LABELS[r.side]}${i > 1 ? ` (${i})` : ''}`,
        color: colors[r.side],
        points: r.samples,
      })),
  })
  writeFileSync(
    CHART,
    stackedChart('Pixelflow one process: memory over time', xMax, 'seconds', [
      panel('corpus'),
      panel('burst'),
    ]),
  )
  console.error(`  chart written to ${CHART}`)
}

export async function benchMemory(
  folder: string,
  rounds = Number(process.env.BENCH_MEMORY_ROUNDS ?? 1),
): Promise<PartResult> {
  ensureBuilt()
  const largest = listPhotos(folder)
    .filter((path) => mimeOf(path) === 'image/jpeg')
    .map((path) => ({ path, size: statSync(path).size }))
    .sort((a, b) => b.size - a.size)[0]!.path
  const big = await sharp(largest).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer()
  const runs: MemoryRun[] = []
  for (let round = 0; round < Math.max(1, rounds); round++) {
    for (const load of ['corpus', 'burst'] as const) {
      // Alternate which side goes first, so neither always meets a cold page cache.
      for (const side of round % 2 === 0 ? SIDES : [...SIDES].reverse()) {
        const run = await runOnce(side, load, folder, big)
        runs.push(run)
        console.error(
          `  round ${round + 1} ${load} ${side}: peak ${Math.round(run.peakMb)} MB over ${run.seconds.toFixed(1)} s, ` +
            `event-loop delay p99 ${run.eventLoop.p99Ms.toFixed(1)} ms, max ${run.eventLoop.maxMs.toFixed(1)} ms`,
        )
      }
    }
  }
  drawChart(runs)
  const worst = (side: Side, load: Load, pick: (run: MemoryRun) => number) =>
    Math.max(...runs.filter((r) => r.side === side && r.load === load).map(pick))
  const peak = (side: Side, load: Load) => Math.round(worst(side, load, (r) => r.peakMb))
  const lag = (side: Side, load: Load) =>
    `event-loop delay p99 ${worst(side, load, (r) => r.eventLoop.p99Ms).toFixed(1)} ms, max ${worst(side, load, (r) => r.eventLoop.maxMs).toFixed(0)} ms`
  return {
    title: `Memory of the one-process service (serve), whole process tree, ${rounds} run${rounds === 1 ? '' : 's'} per side; burst = ${BURST} × ${(big.length / 1e6).toFixed(1)} MB JPEG (target ≤ ${TARGET_MB} MB)`,
    rows: SIDES.map((side) => ({
      side: LABELS[side],
      figure:
        `peak ${peak(side, 'corpus')} MB through the corpus (${lag(side, 'corpus')}), ` +
        `${peak(side, 'burst')} MB under the burst (${lag(side, 'burst')})`,
    })),
    runs: runs.map(({ samples, ...run }) => ({ ...run, samples: samples.length })),
  }
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  await runAlone('memory', `Memory of the one-process service on ${folder}`, () =>
    benchMemory(folder),
  )
}
