/**
 * What a user of the one-process service feels (`npm start`: API, relay and workers in one
 * process, `node dist/start/main.js serve` with deploy/process-env.ts), against raw sharp doing the
 * same work (bench/worker/baseline.ts `equalWork`) at the same concurrency (the service's job
 * slots, one per core). Every time on the Pixelflow side runs from the moment the client sends the
 * first upload to the `updatedAt` of the last image's ready row: the server's clock, so the
 * client's polling does not count. Per round, sides alternating:
 *
 *   single  one ~4 MP JPEG (the corpus photo nearest 4 MP, bytes of its own each time) uploaded
 *           on an idle server and waited for, BENCH_CORPUS_SINGLE_TIMES times (default 5, one
 *           untimed first); p50 against raw sharp's p50 for the same photo (target ≤ 1.2×).
 *   corpus  every photo uploaded one after another (each POST after the previous 202) until the
 *           last is ready; raw sharp's wall over Pixelflow's (target ≥ 0.9). Raw sharp runs it a
 *           second time under npm start's process settings (no target): those settings hold the
 *           service to its memory target and cost raw sharp alone 17-28 % of its time here
 *           (bench/RESULTS.md, 2026-12-08), so the report tells that share from the service's own.
 *   loaded  the corpus again (another owner, so nothing is a duplicate), and from its last 202
 *           until its last image is ready, 1 MB JPEG uploads paced at BENCH_CORPUS_UPLOAD_RATE
 *           per second (default 20) over up to 32 connections. The workers' pace while the front
 *           door is busy: the corpus drain (last 202 → last ready) without load over the drain
 *           with it (target ≥ 0.9); the uploads' p99 against the same paced load on the same
 *           service with its workers off (target ≤ 3×); the API's event-loop delay p99 through
 *           the load (target ≤ 20 ms).
 *
 *   npx tsx bench/corpus/run.ts [photo folder]
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import sharp from 'sharp'
import { PROCESS_ENV } from '../../deploy/process-env.js'
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
import { isMain, nextMessage } from '../harness/child.js'
import { RATE_LIMITS_OFF } from '../harness/config.js'
import { procFigures } from '../harness/measure.js'
import { listPhotos, mimeOf, photoFolder } from '../harness/photos.js'
import { startPlain } from '../harness/plain.js'
import type { TablePart } from '../harness/report.js'
import { table } from '../harness/report.js'
import { runAlone } from '../harness/standalone.js'
import { median } from '../harness/stats.js'
import { TARGETS } from '../harness/targets.js'
import { distinctBodies, makeUploadBody, numbered } from '../upload/run.js'
import type { RawRun } from './side.js'

const SIDE_FILE = fileURLToPath(new URL('./side.ts', import.meta.url))
const SINGLE_TIMES = Number(process.env.BENCH_CORPUS_SINGLE_TIMES ?? 5)
const UPLOAD_RATE = Number(process.env.BENCH_CORPUS_UPLOAD_RATE ?? 20)
const CONNECTIONS = 32
/** The idle side of the paced load: long enough for a p99 of some hundred uploads. */
const IDLE_LOAD_SECONDS = 8
const EVENT_LOOP_TARGET_MS = 20

interface PixelflowRun {
  singleMs: number[]
  corpusSeconds: number
  /** The server's CPU through the corpus run (every thread: libvips', the thread pool's). */
  corpusCpuSeconds: number
  /** Last corpus 202 → last corpus image ready, with the API idle and with the paced uploads. */
  drainIdleSeconds: number
  drainLoadedSeconds: number
  idleUploads: PacedLoad
  loadedUploads: PacedLoad
}

interface PacedLoad {
  accepted: number
  p50Ms: number
  p99Ms: number
  eventLoop: EventLoopDelay
}

export interface CorpusRun {
  round: number
  pixelflow: PixelflowRun
  raw: RawRun
  /**
   * Raw sharp again, under the process settings `npm start` gives the service for the memory
   * target (deploy/process-env.ts): how much of the corpus gap those settings take, not the service.
   */
  rawSettings: RawRun
}

/**
 * The JPEG of the folder whose pixel count is nearest 4 MP; of several, the one with the most
 * bytes (the most detail: a flat sky of few bytes decodes and encodes faster than a photo).
 */
async function nearest4Mp(folder: string): Promise<{ path: string; megapixels: number }> {
  const jpegs = listPhotos(folder).filter((path) => mimeOf(path) === 'image/jpeg')
  const sized = await Promise.all(
    jpegs.map(async (path) => {
      const { width = 0, height = 0 } = await sharp(path).metadata()
      const distance = Math.abs((width * height) / 1e6 - 4)
      return { path, megapixels: (width * height) / 1e6, distance, bytes: statSync(path).size }
    }),
  )
  return sized.sort((a, b) => a.distance - b.distance || b.bytes - a.bytes)[0]!
}

/** A `node dist/start/main.js serve` as `npm start` runs it, on free ports, with its metrics port. */
async function serve(dataDir: string, workers: boolean) {
  const port = await freePort()
  const metricsPort = await freePort()
  const child = startPixelflow(['serve'], {
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_HOST: HOST,
    PIXELFLOW_LOG_LEVEL: 'warn',
    PIXELFLOW_PORT: String(port),
    PIXELFLOW_METRICS_PORT: String(metricsPort),
    PIXELFLOW_WORKER_ENABLED: String(workers),
    ...PROCESS_ENV,
    ...RATE_LIMITS_OFF,
  })
  await untilReady(port, child)
  return {
    child,
    base: `http://${HOST}:${port}/v1/images`,
    metricsUrl: `http://${HOST}:${metricsPort}/metrics`,
  }
}

/**
 * 1 MB uploads at UPLOAD_RATE per second until `until` settles (or for `seconds`), with the API's
 * event-loop delay over the same window. Every upload must be accepted.
 */
async function pacedUploads(
  server: { base: string; metricsUrl: string },
  key: string,
  body: Buffer,
  until: Promise<unknown> | number,
): Promise<PacedLoad> {
  await eventLoopDelay(server.metricsUrl) // resets it: what follows covers the load alone
  // Without a callback autocannon hands back its tracker made thenable, whose stop() ends the
  // run and settles it with the figures so far; its typings only say Promise.
  const load = autocannon({
    url: server.base,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
    requests: [{ body, setupRequest: distinctBodies(body) }],
    connections: CONNECTIONS,
    overallRate: UPLOAD_RATE,
    duration: typeof until === 'number' ? until : 600,
  }) as Promise<autocannon.Result> & { stop(): void }
  if (typeof until !== 'number') await until.finally(() => load.stop())
  const result = await load
  const eventLoop = await eventLoopDelay(server.metricsUrl)
  const failures = result.non2xx + result.errors + result.timeouts
  if (failures > 0)
    throw new Error(`${failures} paced uploads failed: ${JSON.stringify(result.statusCodeStats)}`)
  return {
    accepted: result['2xx'],
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    eventLoop,
  }
}

/** Every photo, each POST after the previous 202; the client's clock at the first send and the last 202. */
async function uploadCorpus(base: string, key: string, photos: string[]) {
  const firstSent = Date.now()
  const ids: string[] = []
  for (const path of photos) ids.push(await post(base, key, mimeOf(path), readFileSync(path)))
  return { ids, firstSent, lastAccepted: Date.now() }
}

async function runPixelflow(
  photos: string[],
  single: string,
  uploadBody: Buffer,
): Promise<PixelflowRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-corpus-bench-'))
  const env = { PIXELFLOW_DATA_DIR: dataDir }
  let child: ChildProcess | undefined
  try {
    const [key, loadedKey, pacedKey] = ['bench', 'bench-loaded', 'bench-paced'].map((owner) =>
      createApiKey(env, owner),
    ) as [string, string, string]

    const idle = await serve(dataDir, false)
    child = idle.child
    const idleUploads = await pacedUploads(idle, pacedKey, uploadBody, IDLE_LOAD_SECONDS)
    await stop(child)

    const server = await serve(dataDir, true)
    child = server.child
    const singleBody = readFileSync(single)
    const singleMs: number[] = []
    for (let i = 0; i <= SINGLE_TIMES; i++) {
      const sent = Date.now()
      const id = await post(server.base, key, 'image/jpeg', numbered(singleBody, i))
      // Each poll costs the server's main thread some CPU that raw sharp does not pay; the
      // figure is the server's own timestamp, so a slow poll only delays reading it.
      const [ready] = await readyTimes(server.base, key, [id], { pollMs: 100 })
      if (i > 0) singleMs.push(ready! - sent) // the first warms the process up, as raw sharp's does
    }

    const cpuBefore = procFigures(child.pid!).cpuSeconds
    const corpus = await uploadCorpus(server.base, key, photos)
    const corpusReady = Math.max(...(await readyTimes(server.base, key, corpus.ids)))
    const corpusCpuSeconds = procFigures(child.pid!).cpuSeconds - cpuBefore

    const loaded = await uploadCorpus(server.base, loadedKey, photos)
    const loadedReady = readyTimes(server.base, loadedKey, loaded.ids, { pollMs: 50 })
    const loadedUploads = await pacedUploads(server, pacedKey, uploadBody, loadedReady)
    const loadedLast = Math.max(...(await loadedReady))
    return {
      singleMs,
      corpusSeconds: (corpusReady - corpus.firstSent) / 1000,
      corpusCpuSeconds,
      drainIdleSeconds: (corpusReady - corpus.lastAccepted) / 1000,
      drainLoadedSeconds: (loadedLast - loaded.lastAccepted) / 1000,
      idleUploads,
      loadedUploads,
    }
  } finally {
    if (child) await stop(child)
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** Raw sharp's side; `settings`: under npm start's process settings, the corpus alone. */
async function runRaw(
  folder: string,
  single: string,
  concurrency: number,
  settings = false,
): Promise<RawRun> {
  const child = await startPlain(SIDE_FILE, {
    BENCH_FOLDER: folder,
    BENCH_SINGLE: single,
    BENCH_SINGLE_TIMES: settings ? '0' : String(SINGLE_TIMES),
    BENCH_CONCURRENCY: String(concurrency),
    ...(settings ? PROCESS_ENV : {}),
  })
  return nextMessage<RawRun>(child, 300_000)
}

function summarise(runs: CorpusRun[]) {
  const mid = (pick: (run: CorpusRun) => number) => median(runs.map(pick))
  const pixelflowSingle = mid((r) => median(r.pixelflow.singleMs))
  const rawSingle = mid((r) => median(r.raw.singleMs))
  const pixelflowCorpus = mid((r) => r.pixelflow.corpusSeconds)
  const rawCorpus = mid((r) => r.raw.corpusSeconds)
  const rawSettingsCorpus = mid((r) => r.rawSettings.corpusSeconds)
  const drainIdle = mid((r) => r.pixelflow.drainIdleSeconds)
  const drainLoaded = mid((r) => r.pixelflow.drainLoadedSeconds)
  const idleP99 = mid((r) => r.pixelflow.idleUploads.p99Ms)
  const loadedP99 = mid((r) => r.pixelflow.loadedUploads.p99Ms)
  const worst = (pick: (load: PacedLoad) => number) =>
    Math.max(...runs.map((r) => pick(r.pixelflow.loadedUploads)))
  return {
    pixelflowSingle,
    rawSingle,
    pixelflowCorpus,
    rawCorpus,
    rawSettingsCorpus,
    drainIdle,
    drainLoaded,
    idleP99,
    idleP50: mid((r) => r.pixelflow.idleUploads.p50Ms),
    loadedP99,
    loadedP50: mid((r) => r.pixelflow.loadedUploads.p50Ms),
    loopP99: worst((l) => l.eventLoop.p99Ms),
    loopMax: worst((l) => l.eventLoop.maxMs),
    idleLoopP99: Math.max(...runs.map((r) => r.pixelflow.idleUploads.eventLoop.p99Ms)),
    ratios: {
      corpus: rawCorpus / pixelflowCorpus,
      single: pixelflowSingle / rawSingle,
      workers: drainIdle / drainLoaded,
      uploadP99: loadedP99 / idleP99,
    },
  }
}

const seconds = (value: number) => `${value.toFixed(2)} s`
const processSettings = Object.entries(PROCESS_ENV)
  .map(([name, value]) => `${name}=${value}`)
  .join(', ')
const verdictOf = (met: boolean) => (met ? 'met' : 'missed')

export async function benchCorpus(
  folder: string,
  rounds = Number(process.env.BENCH_CORPUS_ROUNDS ?? 1),
): Promise<TablePart> {
  ensureBuilt()
  const photos = listPhotos(folder)
  const single = await nearest4Mp(folder)
  const uploadBody = await makeUploadBody(folder)
  const concurrency = availableParallelism()
  const runs: CorpusRun[] = []
  for (let round = 1; round <= Math.max(1, rounds); round++) {
    // Alternate which side goes first, so neither always meets a cold page cache.
    const rawFirst = round % 2 === 0
    const raw = rawFirst ? await runRaw(folder, single.path, concurrency) : undefined
    const pixelflow = await runPixelflow(photos, single.path, uploadBody)
    const run = {
      round,
      pixelflow,
      raw: raw ?? (await runRaw(folder, single.path, concurrency)),
      rawSettings: await runRaw(folder, single.path, concurrency, true),
    }
    runs.push(run)
    console.error(
      `  round ${round}: single p50 ${median(pixelflow.singleMs).toFixed(0)} vs ${median(run.raw.singleMs).toFixed(0)} ms raw; ` +
        `corpus ${seconds(pixelflow.corpusSeconds)} vs ${seconds(run.raw.corpusSeconds)} raw (CPU ${pixelflow.corpusCpuSeconds.toFixed(1)} vs ${run.raw.corpusCpuSeconds.toFixed(1)} s), ` +
        `raw under npm start's settings ${seconds(run.rawSettings.corpusSeconds)} (CPU ${run.rawSettings.corpusCpuSeconds.toFixed(1)} s); ` +
        `drain ${seconds(pixelflow.drainIdleSeconds)} idle, ${seconds(pixelflow.drainLoadedSeconds)} under uploads; ` +
        `paced upload p99 ${pixelflow.idleUploads.p99Ms} ms workers off, ${pixelflow.loadedUploads.p99Ms} ms with them ` +
        `(${pixelflow.loadedUploads.accepted} accepted), event-loop p99 ${pixelflow.loadedUploads.eventLoop.p99Ms.toFixed(1)} ms`,
    )
  }
  const s = summarise(runs)
  const target = (id: keyof typeof TARGETS) => TARGETS[id].target
  const title = `Corpus end to end on the one-process service (npm start, C = ${concurrency}), server timestamps, vs raw sharp doing equal work, ${runs.length} run${runs.length === 1 ? '' : 's'} per side`
  return {
    title,
    rows: [
      {
        side: `one ${single.megapixels.toFixed(1)} MP JPEG, upload → all variants ready, p50 of ${SINGLE_TIMES}`,
        figure: `Pixelflow ${s.pixelflowSingle.toFixed(0)} ms, raw sharp ${s.rawSingle.toFixed(0)} ms: ${s.ratios.single.toFixed(2)}× (target ≤ ${target('single-4mp')}: ${verdictOf(s.ratios.single <= target('single-4mp'))})`,
      },
      {
        side: `${photos.length} photos, first upload sent → last image ready`,
        figure: `Pixelflow ${seconds(s.pixelflowCorpus)}, raw sharp ${seconds(s.rawCorpus)}: ${s.ratios.corpus.toFixed(2)} (target ≥ ${target('corpus-e2e')}: ${verdictOf(s.ratios.corpus >= target('corpus-e2e'))})`,
      },
      {
        side: `the same photos, raw sharp under npm start's process settings (${processSettings})`,
        figure: `${seconds(s.rawSettingsCorpus)}: raw sharp's own over it ${(s.rawCorpus / s.rawSettingsCorpus).toFixed(2)}, it over Pixelflow ${(s.rawSettingsCorpus / s.pixelflowCorpus).toFixed(2)} (the memory target's settings against the service's own cost; no target)`,
      },
      {
        side: `workers under ${UPLOAD_RATE} uploads/s of 1 MB`,
        figure: `corpus drain ${seconds(s.drainIdle)} idle, ${seconds(s.drainLoaded)} loaded: ${s.ratios.workers.toFixed(2)} of their idle pace (target ≥ ${target('loaded-workers')}: ${verdictOf(s.ratios.workers >= target('loaded-workers'))})`,
      },
      {
        side: `those uploads: p99 with the workers rendering / workers off`,
        figure: `p99 ${s.loadedP99} / ${s.idleP99} ms: ${s.ratios.uploadP99.toFixed(2)}× (target ≤ ${target('loaded-upload-p99')}: ${verdictOf(s.ratios.uploadP99 <= target('loaded-upload-p99'))}); event-loop delay p99 ${s.loopP99.toFixed(1)} ms, max ${s.loopMax.toFixed(0)} ms (target ≤ ${EVENT_LOOP_TARGET_MS}: ${verdictOf(s.loopP99 <= EVENT_LOOP_TARGET_MS)})`,
      },
    ],
    runs,
    ratios: [
      { id: 'corpus-e2e', value: s.ratios.corpus },
      { id: 'single-4mp', value: s.ratios.single },
      { id: 'loaded-workers', value: s.ratios.workers },
      { id: 'loaded-upload-p99', value: s.ratios.uploadP99 },
    ],
    table: corpusTable(runs),
  }
}

/** Every round's figures, printed after the summary. */
function corpusTable(runs: CorpusRun[]): string {
  return table(
    [
      'Round',
      'Single p50 (Pixelflow / raw)',
      'Corpus (Pixelflow / raw)',
      'Corpus CPU (Pixelflow / raw)',
      'Drain idle / loaded',
      'Paced uploads accepted',
      'Upload p50 / p99, workers off',
      'Upload p50 / p99, workers on',
      'Event-loop p99 / max, workers off',
      'Event-loop p99 / max, workers on',
    ],
    runs.map(({ round, pixelflow: p, raw }) => [
      String(round),
      `${median(p.singleMs).toFixed(0)} / ${median(raw.singleMs).toFixed(0)} ms`,
      `${seconds(p.corpusSeconds)} / ${seconds(raw.corpusSeconds)}`,
      `${seconds(p.corpusCpuSeconds)} / ${seconds(raw.corpusCpuSeconds)}`,
      `${seconds(p.drainIdleSeconds)} / ${seconds(p.drainLoadedSeconds)}`,
      `${p.idleUploads.accepted}; ${p.loadedUploads.accepted}`,
      `${p.idleUploads.p50Ms} / ${p.idleUploads.p99Ms} ms`,
      `${p.loadedUploads.p50Ms} / ${p.loadedUploads.p99Ms} ms`,
      `${p.idleUploads.eventLoop.p99Ms.toFixed(1)} / ${p.idleUploads.eventLoop.maxMs.toFixed(0)} ms`,
      `${p.loadedUploads.eventLoop.p99Ms.toFixed(1)} / ${p.loadedUploads.eventLoop.maxMs.toFixed(0)} ms`,
    ]),
  )
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  await runAlone('corpus', `Corpus end to end on ${folder}`, () => benchCorpus(folder), {
    folder,
  })
}
