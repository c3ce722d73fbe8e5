import { type ChildProcess, fork } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import sharp from 'sharp'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'

/** What every part hands back: one row per side, ready for the summary table. */
export interface PartResult {
  title: string
  rows: { side: string; figure: string; peakRssMb?: number }[]
  /** Every run's raw numbers, for bench/results/*.json. */
  runs: unknown[]
}

export const DEFAULT_CORPUS = '/work/shared/corpus/photos'
const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png'])

/** The photos to work on: the folder given as argument, else the shared corpus. */
export function photoFolder(argv = process.argv.slice(2)): string {
  const folder = argv.find((arg) => !arg.startsWith('-')) ?? DEFAULT_CORPUS
  if (!existsSync(folder))
    throw new Error(`No photo folder at ${folder}: pass one as the first argument`)
  return resolve(folder)
}

export function listPhotos(folder: string): string[] {
  const photos = readdirSync(folder)
    .filter((name) => PHOTO_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(folder, name))
  if (photos.length === 0) throw new Error(`No JPEG or PNG photos in ${folder}`)
  return photos
}

/**
 * The service's config for a bench: embedded drivers under `dataDir`, workers off (each part
 * starts what it measures), no logs, and the per-owner rate limits off (0), since one bench owner
 * sends far more than a real client may and the limiter would answer 429 instead of measuring.
 */
export function benchConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    PIXELFLOW_DATA_DIR: dataDir,
    PIXELFLOW_WORKER_ENABLED: 'false',
    PIXELFLOW_LOG_LEVEL: 'silent',
    PIXELFLOW_RATE_LIMIT_READS: '0',
    PIXELFLOW_RATE_LIMIT_UPLOADS: '0',
    PIXELFLOW_RATE_LIMIT_CONCURRENT_UPLOADS: '0',
    PIXELFLOW_RATE_LIMIT_ANONYMOUS: '0',
    ...env,
  })
}

export function mimeOf(path: string): string {
  return extname(path).toLowerCase() === '.png' ? 'image/png' : 'image/jpeg'
}

/** True when `moduleUrl` is the script node was started with (not imported by run-all). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(resolve(process.argv[1])).href
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Rounds alternate their order, so neither side always runs on a warmer (or hotter) machine. */
export function inRoundOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse()
}

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
      const used = process.cpuUsage(cpu)
      return {
        seconds: (performance.now() - wall) / 1000,
        cpuSeconds: (used.user + used.system) / 1e6,
      }
    },
  }
}

/** libvips sets up each codec on first use; doing it here keeps that out of every timed window. */
export async function warmUpSharp(): Promise<void> {
  const tiny = sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
  await Promise.all([
    tiny.clone().webp().toBuffer(),
    tiny.clone().jpeg({ progressive: true }).toBuffer(),
  ])
}

/**
 * Runs `file` in a child process (same tsx loader, via fork's inherited execArgv) so each side
 * has its own heap, libvips state and peak RSS. The child answers over IPC; it is killed if it
 * overruns `timeoutMs`, so a stuck run cannot hold the whole bench.
 */
export function startChild(file: string, env: Record<string, string>): ChildProcess {
  return fork(file, [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

export function nextMessage<T>(child: ChildProcess, timeoutMs: number): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child ${child.pid} gave no answer within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`child ${child.pid} exited (${code}) without an answer`))
    }
    child.once('exit', onExit)
    child.once('message', (message: T | { error: string }) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      if (message && typeof message === 'object' && 'error' in message)
        reject(new Error(message.error))
      else resolvePromise(message as T)
    })
  })
}

/** In a child: run `work` once, send its result (or its error) to the parent, and exit. */
export function answerParent(work: () => Promise<unknown>): void {
  work().then(
    (result) => process.send!(result, () => process.exit(0)),
    (error: unknown) => {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
      process.send!({ error: text }, () => process.exit(1))
    },
  )
}

export function mb(value: number | undefined): string {
  return value === undefined ? '' : `${Math.round(value)} MB`
}

/** A Markdown table, so the printed summary can be pasted into RESULTS.md as is. */
export function markdownTable(parts: PartResult[]): string {
  const lines = ['| Part | Side | Result (median) | Peak RSS |', '| --- | --- | --- | --- |']
  for (const part of parts) {
    part.rows.forEach((row, i) =>
      lines.push(
        `| ${i === 0 ? part.title : ''} | ${row.side} | ${row.figure} | ${mb(row.peakRssMb)} |`,
      ),
    )
  }
  return lines.join('\n')
}
