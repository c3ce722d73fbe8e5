/**
 * One part run on its own (`npx tsx bench/<part>/run.ts`) prints what `npm run bench` prints for
 * it, and keeps its raw runs in bench/results/ like the full run does.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadAverage } from './measure.js'
import { markdownTable, type PartResult } from './report.js'
import { ratioTable } from './targets.js'

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url))

/** Writes `data` to bench/results/<prefix><time>.json (not committed) and returns the path. */
export function writeResults(prefix: string, started: Date, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = `${RESULTS_DIR}${prefix}${started.toISOString().replace(/[:.]/g, '-')}.json`
  writeFileSync(file, JSON.stringify(data, null, 2))
  console.error(`\nRaw runs written to ${file}`)
  return file
}

/** The detailed tables of the parts that have one, after the summary. */
export function partTables(parts: readonly PartResult[]): string[] {
  return parts.flatMap((part) =>
    'table' in part ? [`\n${part.title}\n\n${String(part.table)}`] : [],
  )
}

/**
 * Runs one part: `heading` on stderr, then on stdout the summary, the part's own tables and the
 * load average before → after; the raw runs (with `extra`) go to bench/results/<name>-<time>.json.
 * Exits 1 when the part skipped itself (a service it needs is missing).
 */
export async function runAlone(
  name: string,
  heading: string,
  bench: () => Promise<PartResult | PartResult[]>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const before = loadAverage()
  const started = new Date()
  console.error(`${heading}, load average ${before.toFixed(1)}`)
  const parts = [await bench()].flat()
  if (parts.length === 0) process.exit(1)
  const after = loadAverage()
  const minutes = (Date.now() - started.getTime()) / 60_000
  console.log(markdownTable(parts))
  for (const text of partTables(parts)) console.log(text)
  const ratios = parts.flatMap((part) => part.ratios ?? [])
  if (ratios.length > 0) console.log(`\n${ratioTable(ratios)}`)
  console.log(
    `\nLoad average (1 min) ${before.toFixed(1)} → ${after.toFixed(1)}; took ${minutes.toFixed(1)} min`,
  )
  writeResults(`${name}-`, started, { loadAverages: [before, after], ...extra, parts })
}

const RESULTS_FILE = fileURLToPath(new URL('../RESULTS.md', import.meta.url))
const LATEST_START = '<!-- latest full run: written by npm run bench -->'
const LATEST_END = '<!-- end of the latest full run -->'

/**
 * Puts a full run's report at the top of bench/RESULTS.md, in place of the previous one; the
 * dated sections below it (the history, with their analysis) are left as they are.
 */
export function writeLatestReport(markdown: string): void {
  const text = readFileSync(RESULTS_FILE, 'utf8')
  const block = `${LATEST_START}\n## Latest full run\n\n${markdown.trim()}\n${LATEST_END}`
  const start = text.indexOf(LATEST_START)
  const end = text.indexOf(LATEST_END)
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + block + text.slice(end + LATEST_END.length)
      : text.replace(/\n## /, `\n${block}\n\n## `)
  writeFileSync(RESULTS_FILE, next)
  console.error(`Report written to the top of ${RESULTS_FILE}`)
}
