/**
 * One measured load: autocannon (in this process, as in the other parts) for an unrecorded
 * warm-up, then the measured window, with the serving process's CPU (utime + stime) and peak RSS
 * read from /proc around it. The peak (VmHWM) is reset when the window starts, so it is the
 * window's own, whatever the process did before (start-up, filling a cache, earlier slices).
 */
import { writeFileSync } from 'node:fs'
import autocannon from 'autocannon'
import { cpuSecondsOf, loadAverage, procFigures } from '../harness/measure.js'

export type AutocannonOptions = Parameters<typeof autocannon>[0]

export interface LoadFigures {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  /** 2xx answers in the measured window, and in the warm-up before it. */
  answered: number
  warmUpAnswered: number
  /** Anything but a 2xx, socket errors and timeouts, warm-up included: must be 0. */
  failures: number
  statusCodes: unknown
  /** Bytes per 2xx answer: equal on the two sides of a cached-delivery ratio. */
  bytesPerAnswer: number
  /** CPU of the serving process in the window, per 2xx answer. */
  serverCpuMsPerRequest: number
  /** autocannon's own CPU per answer: it shares the cores with the server. */
  clientCpuMsPerRequest: number
  /** VmHWM of the serving process over the window (reset at its start). */
  peakRssMb: number
  loadAverage: number
}

/** Restarts the kernel's high-water mark of `pid`'s RSS (we run as its parent, or as root). */
export function resetPeakRssOf(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

export async function measureLoad(
  pid: number,
  options: AutocannonOptions,
  warmUpSeconds: number,
  seconds: number,
): Promise<LoadFigures> {
  const warmUp = await autocannon({ ...options, duration: warmUpSeconds })
  if (!resetPeakRssOf(pid))
    console.error(`  cannot reset the peak RSS of ${pid}: whole life reported`)
  const before = procFigures(pid).cpuSeconds
  const client = process.cpuUsage()
  const result = await autocannon({ ...options, duration: seconds })
  const clientSeconds = cpuSecondsOf(process.cpuUsage(client))
  const after = procFigures(pid)
  const answered = Math.max(1, result['2xx'])
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    answered: result['2xx'],
    warmUpAnswered: warmUp['2xx'],
    failures:
      result.non2xx +
      result.errors +
      result.timeouts +
      warmUp.non2xx +
      warmUp.errors +
      warmUp.timeouts,
    statusCodes: { warmUp: warmUp.statusCodeStats, measured: result.statusCodeStats },
    bytesPerAnswer: result.throughput.total / answered,
    serverCpuMsPerRequest: ((after.cpuSeconds - before) * 1000) / answered,
    clientCpuMsPerRequest: (clientSeconds * 1000) / answered,
    peakRssMb: after.peakRssMb,
    loadAverage: loadAverage(),
  }
}
