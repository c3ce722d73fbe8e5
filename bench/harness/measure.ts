/**
 * What a run costs besides its wall time: CPU seconds and peak RSS, of this process or (from
 * /proc, Linux) of another one, e.g. a broker or a PostgreSQL backend serving the bench.
 *
 * Node built-ins only: the sides import this file, and what it loads would count in their RSS.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'

/** 1-minute load average: on a shared machine, other work shows up here. */
export const loadAverage = () => loadavg()[0]!

/** Epoch ms with sub-ms precision, comparable across processes (unlike performance.now()). */
export const wallNow = () => performance.timeOrigin + performance.now()

/** User + system CPU seconds of a `process.cpuUsage()` reading or difference. */
export const cpuSecondsOf = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1e6

/**
 * Peak RSS comes from the kernel's high-water mark (VmHWM, the same figure as getrusage's
 * maxRSS), which catches spikes a sampling timer would miss. Writing 5 to clear_refs restarts the
 * mark, so a side can measure its timed window alone rather than its setup too.
 */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    // Not Linux, or not allowed: the peak then covers the whole process, setup included.
  }
}

export function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    if (kb) return Number(kb) / 1024
  } catch {
    // fall through to getrusage
  }
  return process.resourceUsage().maxRSS / 1024
}

export interface Elapsed {
  seconds: number
  /** User + system CPU of the whole process, libvips threads included: steadier than wall time on a shared machine. */
  cpuSeconds: number
}

/** Starts a wall and CPU clock and resets the peak-RSS mark; `read()` stops neither. */
export function startClock(): { read(): Elapsed } {
  resetPeakRss()
  const wall = performance.now()
  const cpu = process.cpuUsage()
  return {
    read() {
      return {
        seconds: (performance.now() - wall) / 1000,
        cpuSeconds: cpuSecondsOf(process.cpuUsage(cpu)),
      }
    },
  }
}

/** CPU seconds (utime + stime) and peak RSS (VmHWM) of one process, from /proc (Linux). */
export function procFigures(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  // utime and stime are fields 14 and 15 of stat, in USER_HZ (100 on Linux).
  return {
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
    peakRssMb: Number(kb ?? 0) / 1024,
  }
}

/** CPU seconds of every process named `name` (a broker serving us, and maybe others); null when none or not Linux. */
export function processCpuSeconds(name: string | null): number | null {
  if (!name) return null
  let total = 0
  let found = false
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))
  } catch {
    return null
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== name) continue
      total += procFigures(Number(pid)).cpuSeconds
      found = true
    } catch {
      // gone meanwhile
    }
  }
  return found ? total : null
}

/**
 * RSS of a process and all its descendants now, in MB (0 once it is gone): what a process tree
 * holds, every child and worker thread counted (threads share their process's RSS). Linux only.
 */
export function treeRssMb(pid: number): number {
  let kb = 0
  const pending = [pid]
  while (pending.length > 0) {
    const next = pending.pop()!
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${next}/status`, 'utf8'))?.[1] ?? 0)
      for (const task of readdirSync(`/proc/${next}/task`)) {
        const children = readFileSync(`/proc/${next}/task/${task}/children`, 'utf8').trim()
        if (children) pending.push(...children.split(' ').map(Number))
      }
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024
}
