/**
 * How the gateway part measures: servers that stay up for the whole part, and rounds of one short
 * slice per side in alternating order, each an unrecorded warm-up and then a measured window
 * between two readings of the server's own counters (CPU, shard loads, Redis commands).
 */
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { killAll, nextMessage } from '../harness/child.js'
import { cpuSecondsOf, loadAverage } from '../harness/measure.js'
import { startPlain } from '../harness/plain.js'
import { inRoundOrder } from '../harness/stats.js'
// Types only: importing server.ts for a value would start a server in this process.
import type {
  GatewayCounters,
  GatewayReady,
  GatewayServer,
  GatewayStopped,
  HookRoute,
} from './server.js'

export type CacheSide = Exclude<GatewayServer, 'hooks'>
export type Side = CacheSide | HookRoute

export interface GatewayRun {
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

export type AutocannonOptions = Parameters<typeof autocannon>[0]
/** What a slice loads: a server and the requests autocannon sends it. */
export type Targets = Map<Side, { child: ChildProcess; options: AutocannonOptions }>

const SERVER_FILE = fileURLToPath(new URL('./server.ts', import.meta.url))
/** Unrecorded load before each measured slice: longer in the first round (JIT, and the hit side's cache fills). */
const FIRST_WARM_UP_SECONDS = 2
const WARM_UP_SECONDS = 0.5

/** Starts a server and waits until it listens; killed again if it fails to start. */
export async function startServer(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = await startPlain(SERVER_FILE, env)
  try {
    const { url } = await nextMessage<GatewayReady>(child, 60_000)
    return { child, url }
  } catch (error) {
    killAll([child])
    throw error
  }
}

/** A warm-up, then the measured window between two reads of the server's counters. */
async function measure(
  child: ChildProcess,
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
    clientCpuMsPerRequest: (cpuSecondsOf(clientUsed) * 1000) / answered,
    loadsPerRequest: (after.loads - before.loads) / answered,
    redisCommandsPerRequest: (after.redisCommands - before.redisCommands) / answered,
    limiterFailures: after.limiterFailures - before.limiterFailures,
    loadAverage: loadAverage(),
  }
}

/** Rounds of one slice per side, in alternating order, each a warm-up then a measured window. */
export async function slices(
  part: GatewayRun['part'],
  targets: Targets,
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
export async function stopAll(targets: Targets, runs: GatewayRun[]): Promise<void> {
  const peaks = new Map<ChildProcess, number>()
  for (const { child } of targets.values()) {
    if (peaks.has(child)) continue
    child.send('stop')
    peaks.set(child, (await nextMessage<GatewayStopped>(child, 30_000)).peakRssMb)
  }
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
