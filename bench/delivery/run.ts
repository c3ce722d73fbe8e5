/**
 * Delivery: on-the-fly transforms and cached delivery, side by side in one run.
 *
 *   1. Misses (every request renders): the same ~2K JPEG sources resized to distinct widths
 *      (w:480, 481, … cycling over the sources, so no request is ever repeated), WebP q80, C =
 *      cores × 2 connections, against Pixelflow GET /t/… (`node dist/start/main.js serve`, local
 *      disk, each result written as a derived object), ipx's Node server, and a bare node:http
 *      server calling sharp. A new server process per run; Pixelflow's derived objects are removed
 *      between its runs.
 *   2. Derived-cache hits: Pixelflow serving stored results vs @fastify/static serving the same
 *      bytes from disk, many connections.
 *   3. Through nginx: deploy/nginx/pixelflow.conf in front of Pixelflow, every request a cache
 *      HIT, vs nginx serving the same files as static files.
 *
 * Sides alternate over BENCH_DELIVERY_ROUNDS rounds (default 2); each run is an unrecorded
 * warm-up and BENCH_DELIVERY_SECONDS (default 4) measured. Medians are reported.
 *
 *   npx tsx bench/delivery/run.ts [photo folder]
 */
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMain, killAll, nextMessage } from '../harness/child.js'
import { machineInfo } from '../harness/machine.js'
import { photoFolder } from '../harness/photos.js'
import { startPlain } from '../harness/plain.js'
import { mb, type TablePart, table } from '../harness/report.js'
import { runAlone } from '../harness/standalone.js'
import { inRoundOrder, median } from '../harness/stats.js'
import { type AutocannonOptions, type LoadFigures, measureLoad } from './load.js'
import { type Nginx, nginxBinary, startNginx } from './nginx.js'
import {
  countsSince,
  createApiKey,
  type PixelflowServer,
  pixelflowEnv,
  pixelflowRuntime,
  type Runtime,
  removeDerived,
  startPixelflowServer,
  type TransformCounts,
  transformCounts,
  transformUrl,
  uploadSources,
} from './pixelflow.js'
import type { SideReady, SideServer } from './side.js'
import { makeSources, type Source } from './sources.js'

type Measure = 'miss' | 'hit' | 'nginx'
type Side =
  | 'pixelflow-miss'
  | 'ipx'
  | 'ipx-sharp'
  | 'sharp'
  | 'pixelflow-hit'
  | 'fastify-static'
  | 'nginx-cache'
  | 'nginx-static'

export interface DeliveryRun extends LoadFigures {
  measure: Measure
  side: Side
  round: number
  /** Pixelflow's render counters over the run (warm-up included), when the side is Pixelflow's. */
  transforms?: TransformCounts
}

const MEASURE_OF: Record<Side, Measure> = {
  'pixelflow-miss': 'miss',
  ipx: 'miss',
  'ipx-sharp': 'miss',
  sharp: 'miss',
  'pixelflow-hit': 'hit',
  'fastify-static': 'hit',
  'nginx-cache': 'nginx',
  'nginx-static': 'nginx',
}

/** The one output format and quality of every side (Pixelflow's default WebP quality is 80 too). */
const FORMAT = 'webp'
const QUALITY = 80
/** Miss widths start here and grow by one each time the sources have all been used. */
const MISS_BASE_WIDTH = 480
/** The width of the cached results (parts 2 and 3). */
const HIT_WIDTH = 512
const TARGETS = { vsIpx: 1.0, vsSharp: 0.9, perCore: 40, hitVsStatic: 0.8 }

const SIDE_SOURCE = fileURLToPath(new URL('./side.ts', import.meta.url))

interface Settings {
  rounds: number
  seconds: number
  missWarmUpSeconds: number
  missConnections: number
  hitConnections: number
  measures: Set<Measure>
  ipxOnProjectSharp: boolean
}

function settings(): Settings {
  const cores = availableParallelism()
  const measures = (process.env.BENCH_DELIVERY_MEASURES ?? 'miss,hit,nginx')
    .split(',')
    .map((word) => word.trim())
  return {
    rounds: Math.max(2, Number(process.env.BENCH_DELIVERY_ROUNDS ?? 2)),
    seconds: Number(process.env.BENCH_DELIVERY_SECONDS ?? 4),
    missWarmUpSeconds: 2,
    missConnections: Number(process.env.BENCH_DELIVERY_CONNECTIONS ?? cores * 2),
    hitConnections: Number(process.env.BENCH_DELIVERY_HIT_CONNECTIONS ?? 64),
    measures: new Set(measures.filter((m): m is Measure => ['miss', 'hit', 'nginx'].includes(m))),
    ipxOnProjectSharp: process.env.BENCH_DELIVERY_IPX_PROJECT_SHARP !== '0',
  }
}

// --- The side servers (ipx, raw sharp, @fastify/static) ------------------------------------------

interface Served {
  url: string
  pid: number
  ready?: SideReady
  stop(): Promise<void>
}

/** side.ts runs without the tsx loader, as Pixelflow runs from dist/ (../harness/plain.ts). */
async function startSide(server: SideServer, dir: string): Promise<Served> {
  const child: ChildProcess = await startPlain(SIDE_SOURCE, {
    BENCH_DELIVERY_SERVER: server,
    BENCH_DELIVERY_DIR: dir,
    BENCH_DELIVERY_QUALITY: String(QUALITY),
  })
  try {
    const ready = await nextMessage<SideReady>(child, 30_000)
    return {
      url: ready.url,
      pid: child.pid!,
      ready,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.send('stop')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      },
    }
  } catch (error) {
    killAll([child])
    throw error
  }
}

function fromPixelflow(server: PixelflowServer): Served {
  return { url: server.url, pid: server.pid, stop: server.stop }
}

// --- 1. Misses -----------------------------------------------------------------------------------

interface Setup {
  work: string
  sourcesDir: string
  sources: Source[]
  dataDir: string
  runtime: Runtime
  ids: string[]
}

/**
 * The k-th request of a miss run: source k mod S, width MISS_BASE_WIDTH + ⌊k / S⌋, so no two
 * requests of a run are the same and every side gets the same sequence.
 */
function missRequest(setup: Setup, side: Side, k: number): string {
  const index = k % setup.sources.length
  const width = MISS_BASE_WIDTH + Math.floor(k / setup.sources.length)
  const name = setup.sources[index]!.name
  if (side === 'pixelflow-miss')
    return transformUrl(`w:${width},q:${QUALITY},f:${FORMAT}`, setup.ids[index]!)
  if (side === 'sharp') return `/${width}/${name}`
  return `/w_${width},q_${QUALITY},f_${FORMAT}/${name}`
}

async function startMissServer(setup: Setup, side: Side): Promise<Served> {
  if (side === 'pixelflow-miss') {
    await removeDerived(setup.dataDir)
    return fromPixelflow(await startPixelflowServer(setup.runtime, setup.dataDir))
  }
  return startSide(side as SideServer, setup.sourcesDir)
}

async function missRuns(
  setup: Setup,
  s: Settings,
  readies: Map<Side, SideReady | undefined>,
): Promise<DeliveryRun[]> {
  const sides: Side[] = [
    'pixelflow-miss',
    'ipx',
    ...(s.ipxOnProjectSharp ? ['ipx-sharp' as const] : []),
    'sharp',
  ]
  const runs: DeliveryRun[] = []
  for (let round = 0; round < s.rounds; round++) {
    for (const side of inRoundOrder(sides, round)) {
      const served = await startMissServer(setup, side)
      readies.set(side, served.ready)
      try {
        let next = 0
        const options: AutocannonOptions = {
          url: served.url,
          connections: s.missConnections,
          requests: [
            {
              method: 'GET',
              setupRequest: (request) => ({ ...request, path: missRequest(setup, side, next++) }),
            },
          ],
        }
        const figures = await measureLoad(served.pid, options, s.missWarmUpSeconds, s.seconds)
        const run: DeliveryRun = { measure: 'miss', side, round, ...figures }
        if (side === 'pixelflow-miss') {
          // In-flight requests cut off by autocannon still render: let them finish first.
          await new Promise((resolve) => setTimeout(resolve, 500))
          run.transforms = await transformCounts(served.url)
        }
        report(run)
        check(run)
        runs.push(run)
      } finally {
        await served.stop()
      }
    }
  }
  return runs
}

// --- 2 and 3. Cached delivery --------------------------------------------------------------------

interface CachedTarget {
  served: Served
  options: AutocannonOptions
  /** Read before the warm-up and after the window: Pixelflow's render counters. */
  counters?: () => Promise<TransformCounts>
}

async function expectOk(url: string): Promise<Response> {
  const response = await fetch(url)
  if (response.status !== 200)
    throw new Error(`${url}: ${response.status} ${await response.text().catch(() => '')}`)
  return response
}

function roundRobin(url: string, paths: readonly string[], connections: number): AutocannonOptions {
  let next = 0
  return {
    url,
    connections,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }),
      },
    ],
  }
}

async function cachedRuns(setup: Setup, s: Settings, notes: string[]): Promise<DeliveryRun[]> {
  const started: Served[] = []
  const nginxes: Nginx[] = []
  const targets = new Map<Side, CachedTarget>()
  try {
    const pixelflow = await startPixelflowServer(setup.runtime, setup.dataDir)
    started.push(fromPixelflow(pixelflow))
    // The results: one per source at w:512, rendered once, then read back as hits.
    const paths = setup.ids.map((id) => transformUrl(`w:${HIT_WIDTH},q:${QUALITY},f:${FORMAT}`, id))
    const hitDir = join(setup.work, 'hits')
    await mkdir(hitDir)
    const files: string[] = []
    for (const [i, path] of paths.entries()) {
      await expectOk(`${pixelflow.url}${path}`)
      const response = await expectOk(`${pixelflow.url}${path}`)
      if (response.headers.get('content-type') !== 'image/webp')
        throw new Error(`${path}: content-type ${response.headers.get('content-type')}`)
      const name = `${setup.sources[i]!.name.replace(/\.jpg$/, '')}-w${HIT_WIDTH}.webp`
      await writeFile(join(hitDir, name), Buffer.from(await response.arrayBuffer()))
      files.push(`/${name}`)
    }
    const counters = () => transformCounts(pixelflow.url)
    const warmed = await counters()
    if (warmed.stored < paths.length)
      throw new Error(
        `the second read of each result was not a stored hit: ${JSON.stringify(warmed)}`,
      )

    if (s.measures.has('hit')) {
      targets.set('pixelflow-hit', {
        served: fromPixelflow(pixelflow),
        options: roundRobin(pixelflow.url, paths, s.hitConnections),
        counters,
      })
      const statik = await startSide('static', hitDir)
      started.push(statik)
      await sameBytes(`${pixelflow.url}${paths[0]}`, `${statik.url}${files[0]}`)
      targets.set('fastify-static', {
        served: statik,
        options: roundRobin(statik.url, files, s.hitConnections),
      })
    }

    const binary = s.measures.has('nginx') ? nginxBinary() : null
    if (s.measures.has('nginx') && !binary) notes.push('nginx not found: part 3 skipped')
    if (binary) {
      const cache = await startNginx(binary, {
        kind: 'cache',
        upstream: new URL(pixelflow.url).host,
      })
      nginxes.push(cache)
      const statik = await startNginx(binary, { kind: 'static', staticDir: hitDir })
      nginxes.push(statik)
      notes.push('nginx cache config: deploy/nginx/pixelflow.conf')
      // Fill the cache: a MISS, then a HIT for every URL, before any measured request.
      for (const path of paths) {
        await expectOk(`${cache.url}${path}`)
        const status = (await expectOk(`${cache.url}${path}`)).headers.get('x-cache-status')
        if (status !== 'HIT')
          throw new Error(`nginx answered ${path} with X-Cache-Status ${status}`)
      }
      await sameBytes(`${cache.url}${paths[0]}`, `${statik.url}${files[0]}`)
      targets.set('nginx-cache', {
        served: { url: cache.url, pid: cache.workerPid, stop: cache.stop },
        options: roundRobin(cache.url, paths, s.hitConnections),
        counters,
      })
      targets.set('nginx-static', {
        served: { url: statik.url, pid: statik.workerPid, stop: statik.stop },
        options: roundRobin(statik.url, files, s.hitConnections),
      })
    }

    const sides = [...targets.keys()]
    const runs: DeliveryRun[] = []
    for (let round = 0; round < s.rounds; round++) {
      for (const side of inRoundOrder(sides, round)) {
        const target = targets.get(side)!
        const before = await target.counters?.()
        const figures = await measureLoad(
          target.served.pid,
          target.options,
          round === 0 ? 2 : 0.5,
          s.seconds,
        )
        const run: DeliveryRun = { measure: MEASURE_OF[side], side, round, ...figures }
        if (before) run.transforms = countsSince(await target.counters!(), before)
        report(run)
        check(run)
        runs.push(run)
      }
    }
    return runs
  } finally {
    for (const nginx of nginxes) await nginx.stop().catch(() => {})
    for (const served of started) await served.stop().catch(() => {})
  }
}

/** The static sides serve exactly the bytes Pixelflow (or nginx's cache) serves. */
async function sameBytes(a: string, b: string): Promise<void> {
  const [one, two] = await Promise.all([expectOk(a), expectOk(b)])
  const [x, y] = await Promise.all([one.arrayBuffer(), two.arrayBuffer()])
  if (!Buffer.from(x).equals(Buffer.from(y)))
    throw new Error(
      `${b} does not serve the bytes of ${a} (${x.byteLength} vs ${y.byteLength} bytes)`,
    )
  if (one.headers.get('content-type') !== two.headers.get('content-type'))
    throw new Error(
      `${b} answers ${two.headers.get('content-type')}, ${a} ${one.headers.get('content-type')}`,
    )
}

// --- Checks and progress -------------------------------------------------------------------------

function report(run: DeliveryRun): void {
  const counts = run.transforms ? `, transforms ${JSON.stringify(run.transforms)}` : ''
  console.error(
    `  round ${run.round + 1} ${run.side}: ${run.requestsPerSecond.toFixed(1)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ` +
      `server CPU ${run.serverCpuMsPerRequest.toFixed(2)} ms/req, client CPU ${run.clientCpuMsPerRequest.toFixed(2)} ms/req, ` +
      `peak RSS ${Math.round(run.peakRssMb)} MB, ${Math.round(run.bytesPerAnswer / 1024)} KiB/answer, failures ${run.failures}, load ${run.loadAverage.toFixed(1)}${counts}`,
  )
}

/** A run counts only if every answer was a 2xx and Pixelflow's counters match the side's name. */
function check(run: DeliveryRun): void {
  if (run.failures > 0) {
    const busy = run.transforms?.busy
      ? `; ${run.transforms.busy} shed by the render queue (503)`
      : ''
    throw new Error(
      `${run.side}: ${run.failures} requests failed${busy}; answers: ${JSON.stringify(run.statusCodes)}`,
    )
  }
  const t = run.transforms
  if (!t) return
  const answered = run.answered + run.warmUpAnswered
  const wrong =
    (run.side === 'pixelflow-miss' && (t.stored + t.shared > 0 || t.rendered < answered)) ||
    (run.side === 'pixelflow-hit' && (t.rendered + t.shared > 0 || t.stored < answered)) ||
    (run.side === 'nginx-cache' && t.rendered + t.shared + t.stored > 0)
  if (wrong || t.busy > 0)
    throw new Error(
      `${run.side}: Pixelflow's counters ${JSON.stringify(t)} for ${answered} answers: not what this side measures`,
    )
}

// --- Summary -------------------------------------------------------------------------------------

function labels(setup: Setup, readies: Map<Side, SideReady | undefined>): Record<Side, string> {
  const lib = (side: Side) => {
    const ready = readies.get(side)
    return ready?.sharp ? `sharp ${ready.sharp} / libvips ${ready.vips}` : ''
  }
  return {
    'pixelflow-miss': `Pixelflow GET /t/ (renders, writes the derived object to local disk; ${setup.runtime.note})`,
    ipx: `ipx ${ipxVersion} Node server (its own ${lib('ipx')})`,
    'ipx-sharp': `ipx ${ipxVersion} on the project's ${lib('ipx-sharp')}`,
    sharp: `raw sharp: node:http, readFile + resize + webp (${lib('sharp')})`,
    'pixelflow-hit': 'Pixelflow GET /t/, derived-cache hit (local disk)',
    'fastify-static': '@fastify/static, same files from disk',
    'nginx-cache': 'nginx proxy_cache HIT in front of Pixelflow',
    'nginx-static': 'nginx static files (same bytes)',
  }
}

let ipxVersion = 'unknown'

function summarise(
  setup: Setup,
  s: Settings,
  runs: DeliveryRun[],
  readies: Map<Side, SideReady | undefined>,
  notes: string[],
): TablePart {
  const cores = availableParallelism()
  const label = labels(setup, readies)
  const of = (side: Side) => runs.filter((r) => r.side === side)
  const has = (side: Side) => of(side).length > 0
  const mid = (side: Side, pick: (r: DeliveryRun) => number) => median(of(side).map(pick))
  const rps = (side: Side) => mid(side, (r) => r.requestsPerSecond)
  const cpu = (side: Side) => mid(side, (r) => r.serverCpuMsPerRequest)
  const peak = (side: Side) => Math.max(...of(side).map((r) => r.peakRssMb))
  const met = (value: number, target: number) =>
    `target ≥ ${target}: ${value >= target ? 'met' : 'missed'}`
  /** Pixelflow's req/s over a baseline's, and the same from server CPU per request. */
  const ratio = (pixelflow: Side, baseline: Side) => ({
    rps: rps(pixelflow) / rps(baseline),
    cpu: cpu(baseline) / cpu(pixelflow),
  })

  const verdicts = new Map<Side, string>()
  const summaryRows: TablePart['rows'] = []
  const addRatio = (pixelflow: Side, baseline: Side, name: string, target?: number) => {
    if (!has(pixelflow) || !has(baseline)) return
    const r = ratio(pixelflow, baseline)
    const text = `${name} ${r.rps.toFixed(2)} (CPU/req ratio ${r.cpu.toFixed(2)})${target === undefined ? ', no target' : `; ${met(r.rps, target)}`}`
    verdicts.set(baseline, text)
    summaryRows.push({ side: `ratio ${name}`, figure: text.slice(name.length + 1) })
  }
  const perCore = has('pixelflow-miss') ? rps('pixelflow-miss') / cores : 0
  const perCpuSecond = has('pixelflow-miss') ? 1000 / cpu('pixelflow-miss') : 0
  if (has('pixelflow-miss'))
    verdicts.set(
      'pixelflow-miss',
      `${perCore.toFixed(1)} transforms/s per core (${met(perCore, TARGETS.perCore)}); ${perCpuSecond.toFixed(1)} per server CPU-second`,
    )
  addRatio('pixelflow-miss', 'ipx', 'Pixelflow / ipx', TARGETS.vsIpx)
  addRatio('pixelflow-miss', 'ipx-sharp', 'Pixelflow / ipx on our sharp')
  addRatio('pixelflow-miss', 'sharp', 'Pixelflow / raw sharp', TARGETS.vsSharp)
  addRatio(
    'pixelflow-hit',
    'fastify-static',
    'Pixelflow hit / @fastify/static',
    TARGETS.hitVsStatic,
  )
  addRatio('nginx-cache', 'nginx-static', 'nginx cache / nginx static')
  if (has('pixelflow-miss'))
    summaryRows.unshift({
      side: 'Pixelflow transforms per core',
      figure: verdicts.get('pixelflow-miss')!,
    })

  const order: Side[] = [
    'pixelflow-miss',
    'ipx',
    'ipx-sharp',
    'sharp',
    'pixelflow-hit',
    'fastify-static',
    'nginx-cache',
    'nginx-static',
  ]
  const present = order.filter(has)
  const measureName: Record<Measure, string> = {
    miss: `1. miss, ${s.missConnections} conn.`,
    hit: `2. derived hit, ${s.hitConnections} conn.`,
    nginx: `3. through nginx, ${s.hitConnections} conn.`,
  }
  const sideRows = present.map((side) => ({
    side: `${MEASURE_OF[side]}: ${label[side]}`,
    figure: `${rps(side).toFixed(1)} req/s, p50 ${mid(side, (r) => r.p50Ms)} ms, p99 ${mid(side, (r) => r.p99Ms)} ms (server CPU ${cpu(side).toFixed(2)} ms/req)`,
    peakRssMb: peak(side),
  }))
  const summary = table(
    ['Measure', 'Side', 'req/s', 'p50', 'p99', 'server CPU / req', 'peak RSS', 'vs target'],
    present.map((side, i) => [
      i === 0 || MEASURE_OF[present[i - 1]!] !== MEASURE_OF[side]
        ? measureName[MEASURE_OF[side]]
        : '',
      label[side],
      rps(side).toFixed(1),
      `${mid(side, (r) => r.p50Ms)} ms`,
      `${mid(side, (r) => r.p99Ms)} ms`,
      `${cpu(side).toFixed(2)} ms`,
      mb(peak(side)),
      verdicts.get(side) ?? '',
    ]),
  )
  const perRun = table(
    [
      'Round',
      'Side',
      'req/s',
      'p50',
      'p99',
      'server CPU / req',
      'client CPU / req',
      'KiB / answer',
      'peak RSS',
      'load',
    ],
    runs.map((r) => [
      String(r.round + 1),
      r.side,
      r.requestsPerSecond.toFixed(1),
      `${r.p50Ms} ms`,
      `${r.p99Ms} ms`,
      `${r.serverCpuMsPerRequest.toFixed(2)} ms`,
      `${r.clientCpuMsPerRequest.toFixed(2)} ms`,
      (r.bytesPerAnswer / 1024).toFixed(1),
      mb(r.peakRssMb),
      r.loadAverage.toFixed(1),
    ]),
  )
  const bytes = setup.sources.reduce((sum, source) => sum + source.bytes, 0) / setup.sources.length
  const header =
    `${setup.sources.length} sources (longest side 2048, JPEG q90, mean ${(bytes / 1024).toFixed(0)} KiB). ` +
    `Misses: w:${MISS_BASE_WIDTH}, ${MISS_BASE_WIDTH + 1}, … (each width once per source), ${FORMAT} q${QUALITY}; ` +
    `hits: w:${HIT_WIDTH}, one result per source. ${s.seconds} s × ${s.rounds} runs per side. ` +
    `Pixelflow from ${setup.runtime.note}.` +
    (notes.length ? ` ${notes.join('. ')}.` : '')
  return {
    title: `Delivery: ${s.missConnections} connections for misses, ${s.hitConnections} for hits, ${s.seconds} s × ${s.rounds} runs per side`,
    rows: [...sideRows, ...summaryRows],
    runs,
    table: `${header}\n\n${summary}\n\nEvery run, in order (sides alternate every round):\n\n${perRun}`,
  }
}

// --- The part ------------------------------------------------------------------------------------

export async function benchDelivery(folder: string): Promise<TablePart> {
  const s = settings()
  // BENCH_DELIVERY_TMPDIR=/dev/shm puts sources, Pixelflow's data and nginx's cache on tmpfs,
  // where fsync costs nothing: the difference is what durable writes cost.
  const base = process.env.BENCH_DELIVERY_TMPDIR || tmpdir()
  const work = await mkdtemp(join(base, 'pixelflow-bench-delivery-'))
  try {
    const sourcesDir = join(work, 'sources')
    await mkdir(sourcesDir)
    const sources = await makeSources(folder, sourcesDir)
    console.error(`  ${sources.length} sources made in ${sourcesDir}`)
    const runtime = pixelflowRuntime()
    ipxVersion = JSON.parse(
      await readFile(new URL('../../node_modules/ipx/package.json', import.meta.url), 'utf8'),
    ).version
    const dataDir = join(work, 'data')
    const key = createApiKey(runtime, dataDir)
    const uploading = await startPixelflowServer(runtime, dataDir)
    let ids: string[]
    try {
      const t0 = Date.now()
      ids = await uploadSources(uploading.url, key, sources)
      console.error(
        `  ${ids.length} images uploaded and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      )
    } finally {
      await uploading.stop()
    }
    const setup: Setup = { work, sourcesDir, sources, dataDir, runtime, ids }
    const notes: string[] = []
    const runs: DeliveryRun[] = []
    // The versions each side process reported (ipx's own sharp may differ from ours).
    const readies = new Map<Side, SideReady | undefined>()
    if (s.measures.has('miss')) runs.push(...(await missRuns(setup, s, readies)))
    if (s.measures.has('hit') || s.measures.has('nginx'))
      runs.push(...(await cachedRuns(setup, s, notes)))
    const env = pixelflowEnv(dataDir, 0)
    notes.push(
      `Pixelflow env: ${Object.entries(env)
        .filter(([name]) => /TRANSFORM|VIPS|WORKER/.test(name))
        .map(([name, value]) => `${name}=${value}`)
        .join(' ')}`,
    )
    return summarise(setup, s, runs, readies, notes)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) {
  const folder = photoFolder()
  const machine = machineInfo()
  const heading = `Delivery, sources made from ${folder}, ${machine.cores} cores, sharp ${machine.sharp} / libvips ${machine.libvips}`
  await runAlone('delivery', heading, () => benchDelivery(folder), { folder, machine })
}
