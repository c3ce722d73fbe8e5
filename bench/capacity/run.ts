import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { TablePart } from '../harness/report.js'

/**
 * The capacity part of `npm run bench`: runs the autoscaling simulation (simulate.ts, which also
 * rewrites its charts and RESULTS.md) in its own process and reports its table.
 */
export function benchCapacity(): TablePart {
  const script = fileURLToPath(new URL('./simulate.ts', import.meta.url))
  const output = execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' })
  const lines = output.trim().split('\n')
  const rows = lines.filter((line) => line.startsWith('|'))
  const header =
    '| Metric | Load | Uploads/s, mean (peak over 15 s) | Uploads | Pods planned for the mean | Target; min–max pods | Ready pods, min–max | Backlog max | Latency p50 / p99 | Worst minute p99 | Pod-hours |\n' +
    `|${' --- |'.repeat(11)}`
  return {
    title: 'capacity: bursty trace through the backlog-per-worker scaling rule (simulated)',
    rows: rows.map((row) => {
      const cells = row.split('|').map((c) => c.trim())
      return { side: `${cells[1]} ${cells[2]}`, figure: `p50 / p99 ${cells[9]}, ${cells[11]}` }
    }),
    runs: [{ output }],
    table: `${header}\n${rows.join('\n')}\n\n${lines.at(-1) ?? ''}`,
  }
}
