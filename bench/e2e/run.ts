/**
 * End-to-end latency, upload → ready, as deployed in scale-out: one `api` process
 * (`node dist/start/main.js api`, workers off, it runs the outbox relay) and 1, 2 or 4 `worker`
 * processes (`node dist/start/main.js worker`), all on one data dir: the SQLite queue, the
 * metadata shards and the local object store are shared files. Every worker has ONE job slot
 * (PIXELFLOW_WORKER_CONCURRENCY=1), so N processes = N slots on this machine's cores.
 *
 * Every photo of the folder is uploaded at once (concurrent POST /v1/images); from each 202, its
 * image is polled with GET /v1/images/:id every BENCH_E2E_POLL_MS (default 25 ms) until `ready`.
 * Reported per process count: p50 and p99 of 202 → ready (with 21 photos p99 is the slowest
 * image), the wall time from the first upload sent to the last image ready, images/s over it, the
 * workers' CPU and peak RSS (VmHWM of each worker process over its whole life), and the API's
 * CPU, which the polling inflates. BENCH_E2E_ROUNDS (default 1, so the part stays under 3 minutes
 * on a busy 2-core machine) repeats the process counts, order reversed every other round, and
 * the median is kept. Rate limits are off (0), as in the other parts.
 *
 *   npx tsx bench/e2e/run.ts [photo folder]
 *
 * dist/ is built first (npm run build) when it is missing or older than a file of src/.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from '../harness/async.js'
import { isMain } from '../harness/child.js'
import { RATE_LIMITS_OFF } from '../harness/config.js'
import { loadAverage, procFigures } from '../harness/measure.js'
import { listPhotos, mimeOf, photoFolder } from '../harness/photos.js'
import { type TablePart, table } from '../harness/report.js'
import { deleteRedisKeys, REDIS_URL, runId } from '../harness/services.js'
import { runAlone } from '../harness/standalone.js'
import { inRoundOrder, median, percentile } from '../harness/stats.js'
import {
  createApiKey,
  ensureBuilt,
  freePort,
  HOST,
  startPixelflow,
  stop,
  untilReady,
} from './processes.js'

/** Worker process counts to compare; BENCH_E2E_PROCESSES=1,2,4 by default. */
const PROCESS_COUNTS: readonly number[] = (process.env.BENCH_E2E_PROCESSES ?? '1,2,4')
  .split(',')
  .map(Number)
const POLL_MS = Number(process.env.BENCH_E2E_POLL_MS ?? 25)
/**
 * The API's metadata cache. `redis` (default): PIXELFLOW_REDIS_URL with a prefix of our own, the
 * documented scale-out setting, so a worker's status change drops the API's cached row (pub/sub).
 * `memory`: the embedded default, per process; the workers cannot reach the API's copy, so a
 * polled image stays `queued` there until PIXELFLOW_CACHE_TTL_MS (60 s) runs out.
 */
const CACHE = (process.env.BENCH_E2E_CACHE ?? 'redis') as 'redis' | 'memory'
/** A run that takes longer than this has a stuck image: it fails rather than hold the bench. */
const RUN_TIMEOUT_MS = 150_000

export interface E2eRun {
  processes: number
  round: number
  images: number
  /** 202 → ready, per image, ms (in upload order). */
  latenciesMs: number[]
  p50Ms: number
  p99Ms: number
  /** POST sent → 202, the slowest of the burst (all are sent at the start, so also when the last 202 came). */
  slowestAcceptMs: number
  /** Last 202 → last image ready: the wall time left once the API has accepted the whole burst. */
  drainSeconds: number
  wallSeconds: number
  imagesPerSecond: number
  /** Over the timed window, all workers together. */
  workerCpuSeconds: number
  apiCpuSeconds: number
  /** VmHWM of each worker process (its whole life, startup included). */
  workerPeakRssMb: number[]
  apiPeakRssMb: number
  polls: number
  loadAverage: number
}

async function runOnce(
  photos: { path: string; body: Uint8Array<ArrayBuffer> }[],
  processes: number,
  round: number,
): Promise<E2eRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-e2e-bench-'))
  const redisPrefix = `pixelflow-e2e-${runId()}:`
  const env: Record<string, string> = {
    ...(CACHE === 'redis'
      ? { PIXELFLOW_REDIS_URL: REDIS_URL, PIXELFLOW_REDIS_PREFIX: redisPrefix }
      : {}),
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_HOST: HOST,
    PIXELFLOW_LOG_LEVEL: 'warn',
    PIXELFLOW_QUEUE_DRIVER: 'sqlite',
    ...RATE_LIMITS_OFF,
  }
  const children: ChildProcess[] = []
  try {
    const key = createApiKey(env, 'bench-owner')
    const apiPort = await freePort()
    const api = startPixelflow(['api'], {
      ...env,
      PIXELFLOW_PORT: String(apiPort),
      PIXELFLOW_WORKER_ENABLED: 'false',
    })
    children.push(api)
    const workerPorts: number[] = []
    for (let i = 0; i < processes; i++) {
      workerPorts.push(await freePort())
      children.push(
        startPixelflow(['worker'], {
          ...env,
          PIXELFLOW_PORT: String(workerPorts[i]),
          PIXELFLOW_WORKER_CONCURRENCY: '1',
        }),
      )
    }
    const workers = children.slice(1)
    await Promise.all([
      untilReady(apiPort, api),
      ...workers.map((w, i) => untilReady(workerPorts[i]!, w)),
    ])

    const base = `http://${HOST}:${apiPort}/v1/images`
    const auth = { authorization: `Bearer ${key}` }
    const loadAverageAtStart = loadAverage()
    const cpuBefore = children.map((c) => procFigures(c.pid!).cpuSeconds)
    let polls = 0
    const started = performance.now()
    const deadline = Date.now() + RUN_TIMEOUT_MS

    const one = async ({ path, body }: { path: string; body: Uint8Array<ArrayBuffer> }) => {
      const sent = performance.now()
      const response = await fetch(base, {
        method: 'POST',
        headers: { ...auth, 'content-type': mimeOf(path) },
        body,
      })
      const accepted = performance.now()
      const answer = (await response.json()) as { id: string; status: string }
      if (response.status !== 202)
        throw new Error(`upload of ${path} answered ${response.status}: ${JSON.stringify(answer)}`)
      for (;;) {
        const pollStarted = performance.now()
        const image = (await (await fetch(`${base}/${answer.id}`, { headers: auth })).json()) as {
          status: string
          failure?: unknown
        }
        polls++
        if (image.status === 'ready')
          return {
            acceptMs: accepted - sent,
            latencyMs: performance.now() - accepted,
            readyAt: performance.now(),
          }
        if (image.status === 'failed')
          throw new Error(`${path} failed: ${JSON.stringify(image.failure)}`)
        if (Date.now() > deadline)
          throw new Error(`${path} still ${image.status} after ${RUN_TIMEOUT_MS / 1000} s`)
        await sleep(Math.max(0, POLL_MS - (performance.now() - pollStarted)))
      }
    }
    const results = await Promise.all(photos.map(one))
    const wallSeconds = (Math.max(...results.map((r) => r.readyAt)) - started) / 1000
    const after = children.map((c) => procFigures(c.pid!))
    const latenciesMs = results.map((r) => r.latencyMs)
    return {
      processes,
      round,
      images: photos.length,
      latenciesMs,
      p50Ms: percentile(latenciesMs, 50),
      p99Ms: percentile(latenciesMs, 99),
      slowestAcceptMs: Math.max(...results.map((r) => r.acceptMs)),
      wallSeconds,
      drainSeconds: wallSeconds - Math.max(...results.map((r) => r.acceptMs)) / 1000,
      imagesPerSecond: photos.length / wallSeconds,
      workerCpuSeconds: after
        .slice(1)
        .reduce((sum, f, i) => sum + f.cpuSeconds - cpuBefore[i + 1]!, 0),
      apiCpuSeconds: after[0]!.cpuSeconds - cpuBefore[0]!,
      workerPeakRssMb: after.slice(1).map((f) => f.peakRssMb),
      apiPeakRssMb: after[0]!.peakRssMb,
      polls,
      loadAverage: loadAverageAtStart,
    }
  } finally {
    await Promise.all(children.map(stop))
    await rm(dataDir, { recursive: true, force: true })
    if (CACHE === 'redis') await deleteRedisKeys(redisPrefix)
  }
}

function summarise(runs: E2eRun[]) {
  return PROCESS_COUNTS.filter((n) => runs.some((r) => r.processes === n)).map((processes) => {
    const of = runs.filter((r) => r.processes === processes)
    const mid = (pick: (r: E2eRun) => number) => median(of.map(pick))
    return {
      processes,
      p50Ms: mid((r) => r.p50Ms),
      p99Ms: mid((r) => r.p99Ms),
      wallSeconds: mid((r) => r.wallSeconds),
      imagesPerSecond: mid((r) => r.imagesPerSecond),
      workerCpuPerImage: mid((r) => r.workerCpuSeconds / r.images),
      apiCpuSeconds: mid((r) => r.apiCpuSeconds),
      slowestAcceptMs: mid((r) => r.slowestAcceptMs),
      drainSeconds: mid((r) => r.drainSeconds),
      workerPeakRssMb: Math.max(...of.flatMap((r) => r.workerPeakRssMb)),
      workersPeakRssSumMb: Math.max(...of.map((r) => r.workerPeakRssMb.reduce((a, b) => a + b, 0))),
      apiPeakRssMb: Math.max(...of.map((r) => r.apiPeakRssMb)),
    }
  })
}

/** The detailed table, printed after the summary and copied into RESULTS.md. */
export function e2eTable(runs: E2eRun[]): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  return table(
    [
      'Worker processes (1 slot each)',
      'p50 202 → ready',
      'p99 (slowest)',
      'Wall time',
      'images/s',
      'Last 202 at',
      'Last 202 → last ready',
      'Worker CPU / image',
      'API CPU (polling incl.)',
      'Peak RSS per worker (all workers)',
      'API peak RSS',
    ],
    summarise(runs).map((s) => [
      String(s.processes),
      seconds(s.p50Ms),
      seconds(s.p99Ms),
      `${s.wallSeconds.toFixed(2)} s`,
      s.imagesPerSecond.toFixed(2),
      seconds(s.slowestAcceptMs),
      `${s.drainSeconds.toFixed(2)} s`,
      `${s.workerCpuPerImage.toFixed(2)} s`,
      `${s.apiCpuSeconds.toFixed(1)} s`,
      `${Math.round(s.workerPeakRssMb)} MB (${Math.round(s.workersPeakRssSumMb)} MB)`,
      `${Math.round(s.apiPeakRssMb)} MB`,
    ]),
  )
}

export async function benchE2e(
  folder: string,
  rounds = Number(process.env.BENCH_E2E_ROUNDS ?? 1),
): Promise<TablePart> {
  ensureBuilt()
  const photos = await Promise.all(
    listPhotos(folder).map(async (path) => ({ path, body: new Uint8Array(await readFile(path)) })),
  )
  const runs: E2eRun[] = []
  for (let round = 0; round < Math.max(1, rounds); round++) {
    for (const processes of inRoundOrder(PROCESS_COUNTS, round)) {
      const run = await runOnce(photos, processes, round + 1)
      runs.push(run)
      console.error(
        `  round ${round + 1}, ${processes} worker process(es): p50 ${(run.p50Ms / 1000).toFixed(2)} s, p99 ${(run.p99Ms / 1000).toFixed(2)} s, ` +
          `wall ${run.wallSeconds.toFixed(2)} s (last 202 at ${(run.slowestAcceptMs / 1000).toFixed(2)} s), ${run.imagesPerSecond.toFixed(2)} images/s, worker CPU ${run.workerCpuSeconds.toFixed(1)} s, ` +
          `API CPU ${run.apiCpuSeconds.toFixed(1)} s (${run.polls} polls), worker peak RSS ${run.workerPeakRssMb.map((m) => Math.round(m)).join(' / ')} MB, load ${run.loadAverage.toFixed(1)}`,
      )
    }
  }
  return {
    title: `End-to-end upload → ready: ${photos.length} photos at once, 1 api + N worker processes × 1 slot, SQLite queue, ${CACHE} metadata cache, poll ${POLL_MS} ms, ${rounds} run${rounds === 1 ? '' : 's'} each`,
    rows: summarise(runs).map((s) => ({
      side: `${s.processes} worker process${s.processes > 1 ? 'es' : ''}`,
      figure:
        `p50 ${(s.p50Ms / 1000).toFixed(2)} s, p99 ${(s.p99Ms / 1000).toFixed(2)} s, wall ${s.wallSeconds.toFixed(2)} s, ` +
        `${s.imagesPerSecond.toFixed(2)} images/s (worker CPU ${s.workerCpuPerImage.toFixed(2)} s/image)`,
      peakRssMb: s.workerPeakRssMb,
    })),
    runs,
    table: e2eTable(runs),
  }
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  await runAlone('e2e', `End-to-end latency on ${folder}`, () => benchE2e(folder), { folder })
}
