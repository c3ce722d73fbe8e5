/**
 * The gateway's read path, under load from autocannon (32 connections). Two parts:
 *
 * Metadata reads: GET /v1/images/:id of ready images (six variants each), the ids requested
 *     round robin (one counter shared by all connections), against four servers:
 *       cache hit    the default in-process LRU, holding every id after the warm-up;
 *       cache miss   an LRU of SMALL_CACHE entries < IDS ids: each id comes back only after IDS
 *                    other reads, long evicted, so every request loads from the shard;
 *       no cache     createImageService without a cache (assembled in server.ts);
 *       Redis hit    PIXELFLOW_REDIS_URL set (rate limits in memory) with an L1 of SMALL_CACHE
 *                    entries: L1 misses every time and Redis (L2) answers.
 *     The server counts its shard loads and the Redis commands it sends, so each run proves it
 *     measured what its name says.
 * Auth + rate limit: a trivial GET on the same app, without route hooks
 *     and behind the /v1 onRequest hooks (authenticate + perOwner) with the read limit off, on the
 *     in-process limiter and on the Redis limiter. One server process serves all four routes.
 *
 * Every server of a part stays up for the whole part, and the part runs BENCH_GATEWAY_ROUNDS
 * rounds (default 3) of one BENCH_GATEWAY_SECONDS slice (default 2 s) per side, in alternating
 * order, each after an unrecorded warm-up of 0.5 s (2 s in the first round); medians are
 * reported. Short interleaved slices spread the load of a shared machine over all sides rather
 * than onto one. Redis: BENCH_REDIS_URL (default redis://127.0.0.1:6379), under a prefix of its
 * own whose keys are deleted at the end; without a reachable Redis the Redis sides are skipped.
 *
 *   npx tsx bench/gateway/run.ts
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMain, killAll } from '../harness/child.js'
import type { PartResult } from '../harness/report.js'
import { deleteRedisKeys, REDIS_URL, redisReachable } from '../harness/services.js'
import { runAlone } from '../harness/standalone.js'
import { median } from '../harness/stats.js'
import type { RatioId } from '../harness/targets.js'
import { IDS, seed } from './seed.js'
import type { GatewayServer, HookRoute } from './server.js'
import {
  type CacheSide,
  type GatewayRun,
  type Side,
  slices,
  startServer,
  stopAll,
  type Targets,
} from './slices.js'

const CONNECTIONS = 32
/** The LRU size that makes every read a miss: above the 32 reads in flight, far below IDS. */
const SMALL_CACHE = 64
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

function childEnv(setup: Setup, server: GatewayServer): Record<string, string> {
  return {
    BENCH_SERVER: server,
    BENCH_DATA_DIR: setup.dataDir,
    BENCH_SMALL_CACHE: String(SMALL_CACHE),
    BENCH_REDIS_URL: setup.redisUrl ?? '',
    BENCH_REDIS_PREFIX: setup.redisPrefix,
  }
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

/** Read sides: every server stays up for the whole part, so rounds can interleave short slices. */
async function readRuns(
  setup: Setup,
  sides: readonly CacheSide[],
  rounds: number,
  seconds: number,
): Promise<GatewayRun[]> {
  const servers = await Promise.allSettled(sides.map((side) => startServer(childEnv(setup, side))))
  const started = servers.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  try {
    const failed = servers.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const headers = { authorization: `Bearer ${setup.key}` }
    const targets: Targets = new Map()
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
    killAll(started.map((s) => s.child))
  }
}

/** Hook routes: one server with all four routes (see server.ts). */
async function hookRuns(
  setup: Setup,
  routes: readonly HookRoute[],
  rounds: number,
  seconds: number,
): Promise<GatewayRun[]> {
  const { child, url } = await startServer(childEnv(setup, 'hooks'))
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
    const targets: Targets = new Map(
      routes.map((route) => [
        route,
        { child, options: { url: `${url}/bench/${route}`, connections: CONNECTIONS, headers } },
      ]),
    )
    const runs = await slices('hooks', targets, routes, rounds, seconds)
    await stopAll(targets, runs)
    return runs
  } finally {
    killAll([child])
  }
}

function summarise(
  title: string,
  sides: readonly Side[],
  runs: GatewayRun[],
  baseline: Side,
  ratioLabel: (side: Side) => string,
  extraRss = true,
  ids: Partial<Record<Side, RatioId>> = {},
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
  const ratios = sides.flatMap((side) => {
    const id = ids[side]
    return id ? [{ id, value: rps(side) / rps(baseline) }] : []
  })
  return { title, rows, runs: runs.filter((r) => sides.includes(r.side)), ratios }
}

export async function benchGateway(
  rounds = Math.max(1, Number(process.env.BENCH_GATEWAY_ROUNDS ?? 3)),
  seconds = Number(process.env.BENCH_GATEWAY_SECONDS ?? 2),
  /** false: the auth + rate limit part only (the quick run). */
  withReads = true,
): Promise<PartResult[]> {
  const hasRedis = await redisReachable(REDIS_URL)
  if (!hasRedis) console.error(`  no Redis at ${REDIS_URL}: the Redis sides are skipped`)
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelflow-gateway-bench-'))
  const setup: Setup = {
    dataDir,
    key: '',
    ids: [],
    redisUrl: hasRedis ? REDIS_URL : null,
    redisPrefix: `pixelflow-bench-gateway-${process.pid}-${Date.now()}:`,
  }
  const cacheSides = CACHE_SIDES.filter((side) => hasRedis || side !== 'redis')
  const routes = HOOK_ROUTES.filter((route) => hasRedis || route !== 'auth-redis')
  const runs: GatewayRun[] = []
  try {
    Object.assign(setup, await seed(dataDir))
    if (withReads) {
      console.error(`  metadata reads (${IDS} ready images round robin):`)
      runs.push(...(await readRuns(setup, cacheSides, rounds, seconds)))
    }
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
  const reads = () =>
    summarise(
      `Metadata reads: GET /v1/images/:id, ready image with 6 variants, ${IDS} ids round robin, ${perSide}`,
      cacheSides,
      runs,
      'no-cache',
      (side) => `ratio ${side} / no cache`,
    )
  return [
    ...(withReads ? [reads()] : []),
    summarise(
      `Auth + rate limit: trivial GET on the buildApp instance, ${perSide} (one server, peak RSS ${Math.round(hooksRss)} MB)`,
      routes,
      runs,
      'bare',
      (side) => `ratio ${side} / no hooks`,
      false,
      { 'auth-memory': 'auth-rps', 'auth-redis': 'auth-redis-rps' },
    ),
  ]
}

if (isMain(import.meta.url))
  await runAlone('gateway', 'Gateway reads, auth and rate limiting', () => benchGateway())
