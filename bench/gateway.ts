/**
 * The gateway's read path, under load from autocannon (32 connections). Two parts:
 *
 * Metadata reads: GET /v1/images/:id of ready images (six variants each), the ids requested
 *     round robin (one counter shared by all connections), against four servers:
 *       cache hit    the default in-process LRU, holding every id after the warm-up;
 *       cache miss   an LRU of SMALL_CACHE entries < IDS ids: each id comes back only after IDS
 *                    other reads, long evicted, so every request loads from the shard;
 *       no cache     createImageService without a cache (assembled in gateway-server.ts);
 *       Redis hit    PIXELFLOW_REDIS_URL set (rate limits in memory) with an L1 of SMALL_CACHE
 *                    entries: L1 misses every time and Redis (L2) answers.
 *     The server counts its shard loads and the Redis commands it sends, so each run proves it
 *     measured what its name says.
 * Auth + rate limit: a trivial GET on the same app, without route hooks
 *     and behind the /v1 onRequest hooks (authenticate + perOwner) with the read limit off, on the
 *     in-process limiter and on the Redis limiter. One server process serves all four routes.
 *
 * Every server of a part stays up for the whole part, and the part runs BENCH_GATEWAY_ROUNDS
 * rounds (default 4) of one BENCH_GATEWAY_SECONDS slice (default 4 s) per side, in alternating
 * order, each after an unrecorded warm-up of 0.5 s (2 s in the first round); medians are
 * reported. Short interleaved slices spread the load of a shared machine over all sides rather
 * than onto one. Redis: BENCH_REDIS_URL (default redis://127.0.0.1:6379), under a prefix of its
 * own whose keys are deleted at the end; without a reachable Redis the Redis sides are skipped.
 *
 *   npx tsx bench/gateway.ts
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { newImageId } from '../src/domain/ids.js'
import { objectKeys, type Variant } from '../src/domain/image.js'
import { openDeps } from '../src/start/deps.js'
// Types only: importing gateway-server.ts for a value would start a server in this process.
import type {
  GatewayCounters,
  GatewayReady,
  GatewayServer,
  GatewayStopped,
  HookRoute,
} from './gateway-server.js'
import { deleteRedisKeys } from './services.js'
import {
  benchConfig,
  inRoundOrder,
  isMain,
  markdownTable,
  median,
  nextMessage,
  type PartResult,
  startChild,
} from './support.js'

type CacheSide = Exclude<GatewayServer, 'hooks'>
type Side = CacheSide | HookRoute

interface GatewayRun {
  part: 'reads' | 'hooks'
  side: Side
  round: number
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  /** Anything but a 200, plus socket errors and timeouts: must be 0 for the run to count. */
  failures: number
  statusCodes: unknown
  /** Server CPU in the measured window (warm-up excluded) per answered request. */
  cpuMsPerRequest: number
  /** The load generator's own CPU per request: it shares the two cores with the server. */
  clientCpuMsPerRequest: number
  loadsPerRequest: number
  redisCommandsPerRequest: number
  limiterFailures: number
  loadAverage: number
  peakRssMb: number
}

const SERVER_FILE = fileURLToPath(new URL('./gateway-server.ts', import.meta.url))
const CONNECTIONS = 32
const OWNER = 'bench-owner'
/** Ready images read round robin. */
const IDS = 500
/** The LRU size that makes every read a miss: above the 32 reads in flight, far below IDS. */
const SMALL_CACHE = 64
/** Unrecorded load before each measured slice: longer in the first round (JIT, and the hit side's cache fills). */
const FIRST_WARM_UP_SECONDS = 2
const WARM_UP_SECONDS = 0.5
const PRESETS = [
  ['thumb', 320],
  ['medium', 1024],
  ['large', 2048],
] as const

const CACHE_SIDES: readonly CacheSide[] = ['cache-hit', 'cache-miss', 'no-cache', 'redis']
const HOOK_ROUTES: readonly HookRoute[] = ['bare', 'auth', 'auth-memory', 'auth-redis']
const LABELS: Record<Side, string> = {
  'cache-hit': '(a) cache hit: in-process LRU (default)',
  'cache-miss': `(b) cache miss every time: LRU of ${SMALL_CACHE} entries < ${IDS} ids`,
  'no-cache': '(c) no cache: createImageService without one',
  redis: `(d) Redis tier hit: L1 of ${SMALL_CACHE} misses, Redis (L2) answers`,
  bare: 'no hooks',
  auth: 'authenticate + perOwner, read limit off',
  'auth-memory': 'authenticate + perOwner, in-process limiter',
  'auth-redis': 'authenticate + perOwner, Redis limiter',
}

interface Setup {
  dataDir: string
  key: string
  ids: string[]
  redisUrl: string | null
  redisPrefix: string
}

/**
 * One owner, one API key and IDS ready images with the default six variants, written straight
 * into the metadata (no pixels are needed to read metadata). Shared read-only by every server.
 */
async function seed(dataDir: string): Promise<{ key: string; ids: string[] }> {
  const deps = await openDeps(benchConfig(dataDir))
  try {
    const { key } = await deps.apiKeys.create(OWNER)
    const bucket = deps.metadata.bucketOfOwner(OWNER)
    const shard = await deps.metadata.shard(deps.metadata.directory().shardOf[bucket]!)
    // Only this seeding connection: the servers reopen the file with synchronous=FULL.
    await sql`PRAGMA synchronous = OFF`.execute(shard.db)
    const ids: string[] = []
    const now = Date.now()
    for (let i = 0; i < IDS; i++) {
      const id = newImageId(bucket)
      const image = {
        id,
        ownerId: OWNER,
        visibility: 'public' as const,
        bucket,
        format: 'jpeg' as const,
        width: 4000,
        height: 3000,
        frames: 1,
      }
      await shard.createImage(
        bucket,
        {
          ...image,
          bytes: 3_500_000,
          sha256: randomBytes(32).toString('hex'),
          idempotencyKey: null,
        },
        JSON.stringify({ imageId: id }),
        now,
      )
      const variants: Variant[] = PRESETS.flatMap(([name, width]) =>
        (['webp', 'jpeg'] as const).map((format) => ({
          name,
          format,
          width,
          height: (width * 3) / 4,
          bytes: width * 60,
          etag: `"${randomBytes(8).toString('hex')}"`,
          key: objectKeys.variant(id, name, format),
        })),
      )
      if (
        !(await shard.completeImage(
          bucket,
          id,
          { variants, placeholder: 'YJqGPQw7sFlslqhFafSE+Q6oJ1h2iHB2Rw' },
          now,
        ))
      )
        throw new Error(`could not mark ${id} ready`)
      ids.push(id)
    }
    // No jobs: the servers' relays have nothing to publish.
    await shard.removeOutbox((await shard.readOutbox(IDS * 2)).map((item) => item.seq))
    return { key, ids }
  } finally {
    await deps.queue.close()
    await deps.metadata.close()
    await deps.control.destroy()
  }
}

async function redisReachable(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

function childEnv(setup: Setup, server: GatewayServer): Record<string, string> {
  return {
    BENCH_SERVER: server,
    BENCH_DATA_DIR: setup.dataDir,
    BENCH_SMALL_CACHE: String(SMALL_CACHE),
    BENCH_REDIS_URL: setup.redisUrl ?? '',
    BENCH_REDIS_PREFIX: setup.redisPrefix,
  }
}

type AutocannonOptions = Parameters<typeof autocannon>[0]

/** A warm-up, then the measured window between two reads of the server's counters. */
async function measure(
  child: Child,
  options: AutocannonOptions,
  warmUpSeconds: number,
  seconds: number,
): Promise<Omit<GatewayRun, 'part' | 'side' | 'round' | 'peakRssMb'>> {
  await autocannon({ ...options, duration: warmUpSeconds })
  child.send('mark')
  const before = await nextMessage<GatewayCounters>(child, 10_000)
  const clientCpu = process.cpuUsage()
  const result = await autocannon({ ...options, duration: seconds })
  const clientUsed = process.cpuUsage(clientCpu)
  child.send('mark')
  const after = await nextMessage<GatewayCounters>(child, 10_000)
  const answered = Math.max(1, result['2xx'])
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    statusCodes: result.statusCodeStats,
    cpuMsPerRequest: ((after.cpuSeconds - before.cpuSeconds) * 1000) / answered,
    clientCpuMsPerRequest: (clientUsed.user + clientUsed.system) / 1000 / answered,
    loadsPerRequest: (after.loads - before.loads) / answered,
    redisCommandsPerRequest: (after.redisCommands - before.redisCommands) / answered,
    limiterFailures: after.limiterFailures - before.limiterFailures,
    loadAverage: loadavg()[0]!,
  }
}

async function stop(child: Child): Promise<GatewayStopped> {
  child.send('stop')
  return nextMessage<GatewayStopped>(child, 30_000)
}

async function expectOk(response: Response, what: string): Promise<Response> {
  if (response.status !== 200)
    throw new Error(`${what}: expected 200, got ${response.status}: ${await response.text()}`)
  return response
}

/** Checks that a read side measured what its name says, from the server's own counters. */
function checkReadRun(run: GatewayRun): void {
  const loads = run.loadsPerRequest
  const wrong =
    (run.side === 'cache-hit' && loads > 0.01) ||
    ((run.side === 'cache-miss' || run.side === 'no-cache') && loads < 0.99) ||
    (run.side === 'redis' && (loads > 0.01 || run.redisCommandsPerRequest < 0.99))
  if (wrong)
    throw new Error(
      `${run.side}: ${loads.toFixed(3)} shard loads and ${run.redisCommandsPerRequest.toFixed(3)} Redis commands per request: not what this side is meant to measure`,
    )
}

type Child = ReturnType<typeof startChild>

/** Starts a server and waits until it listens; killed again if it fails to start. */
async function startServer(
  setup: Setup,
  server: GatewayServer,
): Promise<{ child: Child; url: string }> {
  const child = startChild(SERVER_FILE, childEnv(setup, server))
  try {
    const { url } = await nextMessage<GatewayReady>(child, 60_000)
    return { child, url }
  } catch (error) {
    child.kill()
    throw error
  }
}

/** Read sides: every server stays up for the whole part, so rounds can interleave short slices. */
async function readRuns(
  setup: Setup,
  sides: readonly CacheSide[],
  rounds: number,
  seconds: number,
): Promise<GatewayRun[]> {
  const servers = await Promise.allSettled(sides.map((side) => startServer(setup, side)))
  const started = servers.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  try {
    const failed = servers.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const headers = { authorization: `Bearer ${setup.key}` }
    const targets = new Map<Side, { child: Child; options: AutocannonOptions }>()
    for (const [i, side] of sides.entries()) {
      const { child, url } = started[i]!
      const first = await (
        await expectOk(await fetch(`${url}/v1/images/${setup.ids[0]}`, { headers }), side)
      ).json()
      if (first.status !== 'ready' || first.variants.length !== 6)
        throw new Error(`${side}: the seeded image reads back as ${JSON.stringify(first)}`)
      let next = 0
      const path = () => `/v1/images/${setup.ids[next++ % setup.ids.length]}`
      targets.set(side, {
        child,
        options: {
          url,
          connections: CONNECTIONS,
          requests: [
            { method: 'GET', headers, setupRequest: (request) => ({ ...request, path: path() }) },
          ],
        },
      })
    }
    const runs = await slices('reads', targets, sides, rounds, seconds)
    for (const run of runs) checkReadRun(run)
    await stopAll(targets, runs)
    return runs
  } finally {
    for (const { child } of started) if (child.exitCode === null) child.kill()
  }
}

/** Hook routes: one server with all four routes (see gateway-server.ts). */
async function hookRuns(
  setup: Setup,
  routes: readonly HookRoute[],
  rounds: number,
  seconds: number,
): Promise<GatewayRun[]> {
  const { child, url } = await startServer(setup, 'hooks')
  try {
    const headers = { authorization: `Bearer ${setup.key}` }
    // The hooks are live: no credential is refused, and only the limited routes spend from a limit.
    if ((await fetch(`${url}/bench/auth`)).status !== 401)
      throw new Error('/bench/auth answered without a credential')
    for (const route of routes) {
      const response = await expectOk(await fetch(`${url}/bench/${route}`, { headers }), route)
      const limited = response.headers.has('ratelimit')
      if (limited !== (route === 'auth-memory' || route === 'auth-redis'))
        throw new Error(`/bench/${route}: RateLimit header ${limited ? 'present' : 'missing'}`)
    }
    const targets = new Map<Side, { child: Child; options: AutocannonOptions }>(
      routes.map((route) => [
        route,
        { child, options: { url: `${url}/bench/${route}`, connections: CONNECTIONS, headers } },
      ]),
    )
    const runs = await slices('hooks', targets, routes, rounds, seconds)
    await stopAll(targets, runs)
    return runs
  } finally {
    if (child.exitCode === null) child.kill()
  }
}

/** Rounds of one slice per side, in alternating order, each a warm-up then a measured window. */
async function slices(
  part: GatewayRun['part'],
  targets: Map<Side, { child: Child; options: AutocannonOptions }>,
  sides: readonly Side[],
  rounds: number,
  seconds: number,
): Promise<GatewayRun[]> {
  const runs: GatewayRun[] = []
  for (let round = 0; round < rounds; round++) {
    for (const side of inRoundOrder(sides, round)) {
      const { child, options } = targets.get(side)!
      const run: GatewayRun = {
        part,
        side,
        round,
        ...(await measure(
          child,
          options,
          round === 0 ? FIRST_WARM_UP_SECONDS : WARM_UP_SECONDS,
          seconds,
        )),
        peakRssMb: 0,
      }
      report(run)
      runs.push(run)
    }
  }
  return runs
}

/** Stops each server once and gives its peak RSS (its whole life) to its runs. */
async function stopAll(targets: Map<Side, { child: Child }>, runs: GatewayRun[]): Promise<void> {
  const peaks = new Map<Child, number>()
  for (const { child } of targets.values())
    if (!peaks.has(child)) peaks.set(child, (await stop(child)).peakRssMb)
  for (const run of runs) run.peakRssMb = peaks.get(targets.get(run.side)!.child)!
}

function report(run: GatewayRun): void {
  console.error(
    `  round ${run.round + 1} ${run.side}: ${run.requestsPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ` +
      `server CPU ${run.cpuMsPerRequest.toFixed(3)} ms/req (autocannon ${run.clientCpuMsPerRequest.toFixed(3)}), ` +
      `loads ${run.loadsPerRequest.toFixed(2)}/req, Redis ${run.redisCommandsPerRequest.toFixed(2)} cmds/req, ` +
      `failures ${run.failures}, load ${run.loadAverage.toFixed(1)}`,
  )
  if (run.failures > 0)
    throw new Error(
      `${run.side}: ${run.failures} requests failed; answers: ${JSON.stringify(run.statusCodes)}`,
    )
  if (run.limiterFailures > 0)
    throw new Error(
      `${run.side}: the Redis limiter failed ${run.limiterFailures} times (answered by its in-process fallback)`,
    )
}

function summarise(
  title: string,
  sides: readonly Side[],
  runs: GatewayRun[],
  baseline: Side,
  ratioLabel: (side: Side) => string,
  extraRss = true,
): PartResult {
  const of = (side: Side) => runs.filter((r) => r.side === side)
  const mid = (side: Side, pick: (r: GatewayRun) => number) => median(of(side).map(pick))
  const rps = (side: Side) => mid(side, (r) => r.requestsPerSecond)
  const cpu = (side: Side) => mid(side, (r) => r.cpuMsPerRequest)
  const rows: PartResult['rows'] = sides.map((side) => {
    const redis =
      side === 'redis' || side === 'auth-redis'
        ? `; ${mid(side, (r) => r.redisCommandsPerRequest).toFixed(2)} Redis cmds/req`
        : ''
    const loads =
      of(side)[0]?.part === 'reads'
        ? `; ${mid(side, (r) => r.loadsPerRequest).toFixed(2)} shard loads/req`
        : ''
    return {
      side: LABELS[side],
      figure: `${rps(side).toFixed(0)} req/s, p50 ${mid(side, (r) => r.p50Ms)} ms, p99 ${mid(side, (r) => r.p99Ms)} ms (server CPU ${cpu(side).toFixed(3)} ms/req${loads}${redis})`,
      ...(extraRss ? { peakRssMb: Math.max(...of(side).map((r) => r.peakRssMb)) } : {}),
    }
  })
  for (const side of sides.filter((s) => s !== baseline)) {
    rows.push({
      side: ratioLabel(side),
      figure: `${(rps(side) / rps(baseline)).toFixed(2)} (req/s); CPU per request ×${(cpu(side) / cpu(baseline)).toFixed(2)}`,
    })
  }
  return { title, rows, runs: runs.filter((r) => sides.includes(r.side)) }
}

export async function benchGateway(
  rounds = Math.max(1, Number(process.env.BENCH_GATEWAY_ROUNDS ?? 4)),
  seconds = Number(process.env.BENCH_GATEWAY_SECONDS ?? 4),
): Promise<PartResult[]> {
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const hasRedis = await redisReachable(redisUrl)
  if (!hasRedis) console.error(`  no Redis at ${redisUrl}: the Redis sides are skipped`)
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-gateway-bench-'))
  const setup: Setup = {
    dataDir,
    key: '',
    ids: [],
    redisUrl: hasRedis ? redisUrl : null,
    redisPrefix: `pixelflow-bench-gateway-${process.pid}-${Date.now()}:`,
  }
  const cacheSides = CACHE_SIDES.filter((side) => hasRedis || side !== 'redis')
  const routes = HOOK_ROUTES.filter((route) => hasRedis || route !== 'auth-redis')
  const runs: GatewayRun[] = []
  try {
    Object.assign(setup, await seed(dataDir))
    console.error(`  metadata reads (${IDS} ready images round robin):`)
    runs.push(...(await readRuns(setup, cacheSides, rounds, seconds)))
    console.error('  authentication + rate limiting on a trivial route:')
    runs.push(...(await hookRuns(setup, routes, rounds, seconds)))
  } finally {
    await rm(dataDir, { recursive: true, force: true })
    if (hasRedis)
      console.error(
        `  deleted ${await deleteRedisKeys(setup.redisPrefix)} Redis keys under ${setup.redisPrefix}`,
      )
  }

  const perSide = `${CONNECTIONS} connections, ${seconds} s × ${rounds} runs per side`
  const hooksRss = Math.max(...runs.filter((r) => r.part === 'hooks').map((r) => r.peakRssMb))
  return [
    summarise(
      `Metadata reads: GET /v1/images/:id, ready image with 6 variants, ${IDS} ids round robin, ${perSide}`,
      cacheSides,
      runs,
      'no-cache',
      (side) => `ratio ${side} / no cache`,
    ),
    summarise(
      `Auth + rate limit: trivial GET on the buildApp instance, ${perSide} (one server, peak RSS ${Math.round(hooksRss)} MB)`,
      routes,
      runs,
      'bare',
      (side) => `ratio ${side} / no hooks`,
      false,
    ),
  ]
}

if (isMain(import.meta.url)) {
  const before = loadavg()[0]!
  const parts = await benchGateway()
  console.log(`Load average (1 min): ${before.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`)
  console.log(markdownTable(parts))
}
