/** What a part hands back, and the Markdown every table is printed as (pasted into RESULTS.md as is). */
import type { Ratio } from './targets.js'

/** What every part hands back: one row per side, ready for the summary table. */
export interface PartResult {
  title: string
  rows: { side: string; figure: string; peakRssMb?: number }[]
  /** Every run's raw numbers, for bench/results/*.json. */
  runs: unknown[]
  /** The part's ratios that have a target (harness/targets.ts). */
  ratios?: Ratio[]
}

/** A part with more columns than the summary has: its own table is printed after the summary. */
export type TablePart = PartResult & { table: string }

export function mb(value: number | undefined): string {
  return value === undefined ? '' : `${Math.round(value)} MB`
}

/** A figure, or n/a where a side has none (a broker's CPU off Linux, a claim latency of no claim). */
export const fixed = (value: number | null, digits: number) =>
  value === null ? 'n/a' : value.toFixed(digits)

/** A Markdown table: a header row, its separator, then one line per row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** The summary of parts: one row per side. */
export function markdownTable(parts: PartResult[]): string {
  return table(
    ['Part', 'Side', 'Result (median)', 'Peak RSS'],
    parts.flatMap((part) =>
      part.rows.map((row, i) => [
        i === 0 ? part.title : '',
        row.side,
        row.figure,
        mb(row.peakRssMb),
      ]),
    ),
  )
}
