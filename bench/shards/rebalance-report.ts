/** The rebalance's figures: the write pause and phases per moved bucket, the writers' latencies. */
import type { TablePart } from '../harness/report.js'
import { percentile } from '../harness/stats.js'
import type { WritersResult } from './metadata.js'
import type { MetaOptions } from './options.js'

export interface RebalanceRun {
  rows: number
  owners: number
  variants: number
  seedSeconds: number
  vacuumSeconds: number
  moves: number
  failed: number
  seconds: number
  rowsCopied: number
  changesApplied: number
  pauseMs: { p50: number; p99: number; max: number }
  /** Per phase (to the next phase's start; cleanup to the move's last update): p50 and max over the moves. */
  phaseMs: Record<string, { p50: number; max: number }>
  /** One move, capture → its last update (done). */
  moveMs: { p50: number; max: number }
  /** Rebalance time × lanes / moves: a lane's time per bucket, including what it does outside the phases. */
  laneMsPerBucket: number
  writers: { baseline: WriterFigures; during: WriterFigures }
  /** Writer ops whose time overlapped their bucket's fence → cleanup window. */
  fencedWrites: { count: number; p50Ms: number | null; maxMs: number | null }
  /** postgresSeconds: the backends of the bench's databases only (both processes' sessions). */
  /** postgresSeconds: null on SQLite, whose work is in the two processes' own CPU. */
  cpu: { moverSeconds: number; writerSeconds: number; postgresSeconds: number | null }
  loadAverages: number[]
}

export interface WriterFigures {
  seconds: number
  opsPerSecond: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  ops: number
  inserted: number
  onMovingBuckets: number
}

export function writerFigures(r: WritersResult): WriterFigures {
  const latencies = r.timeline.map((op) => op[3])
  return {
    seconds: r.seconds,
    ops: latencies.length,
    opsPerSecond: latencies.length / r.seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.reduce((a, b) => Math.max(a, b), 0),
    inserted: r.inserted,
    onMovingBuckets: r.onMovingBuckets,
  }
}

export const writerLine = (w: WriterFigures) =>
  `${w.opsPerSecond.toFixed(0)} writes/s, p50 ${w.p50Ms.toFixed(1)} ms, p99 ${w.p99Ms.toFixed(1)} ms, max ${w.maxMs.toFixed(1)} ms (${w.ops} writes, ${w.onMovingBuckets} on buckets being moved)`

/** Phase start times of one move (epoch ms), and when its last phase ended. */
export type Window = Record<(typeof STEPS)[number], number>
export const STEPS = [
  'capture',
  'copy',
  'catchup',
  'fence',
  'verify',
  'switch',
  'cleanup',
  'done',
] as const

/** How long each phase took (to the next one's start), p50 and max over the moves. */
export function phaseDurations(windows: Window[]): RebalanceRun['phaseMs'] {
  const out: RebalanceRun['phaseMs'] = {}
  for (let i = 0; i < STEPS.length - 1; i++) {
    const durations = windows.map((w) => w[STEPS[i + 1]!] - w[STEPS[i]!])
    out[STEPS[i]!] = { p50: percentile(durations, 50), max: Math.max(...durations) }
  }
  return out
}

/** Writer ops that ran while their bucket was fenced (fence start → cleanup start). */
export function overlapsWithFence(
  result: WritersResult,
  windows: Map<number, { fence: number; cleanup: number }>,
): RebalanceRun['fencedWrites'] {
  const hit: number[] = []
  for (const [, bucket, startedAt, ms] of result.timeline) {
    const w = windows.get(bucket)
    if (w && startedAt < w.cleanup && startedAt + ms > w.fence) hit.push(ms)
  }
  return {
    count: hit.length,
    p50Ms: hit.length ? percentile(hit, 50) : null,
    maxMs: hit.length ? Math.max(...hit) : null,
  }
}

export function rebalancePart(
  run: RebalanceRun,
  o: MetaOptions,
  engine: 'postgres' | 'sqlite' = 'postgres',
): TablePart {
  const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(1)} ms`)
  const { baseline: b, during: d } = run.writers
  const table = [
    '| Figure | Value |',
    '| --- | --- |',
    `| Dataset | ${run.rows} images, ${run.variants} variants each, ${run.owners} owners, 4 shards; seeded in ${run.seedSeconds.toFixed(0)} s (${(run.rows / run.seedSeconds).toFixed(0)} images/s with their variants), then ${engine === 'sqlite' ? 'ANALYZE' : 'VACUUM ANALYZE'} ${run.vacuumSeconds.toFixed(0)} s |`,
    `| Moves | ${run.moves} buckets to the new shard, ${o.moverParallel} at a time, chunks of ${o.chunkSize}; ${run.failed} failed |`,
    `| Total rebalance time | **${run.seconds.toFixed(1)} s** |`,
    `| Rows copied | ${run.rowsCopied} images (+ their variants) → **${(run.rowsCopied / run.seconds).toFixed(0)} images/s**; ${run.changesApplied} logged changes replayed |`,
    `| Write pause per bucket (fence start → cleanup start) | **p50 ${ms(run.pauseMs.p50)}, p99 ${ms(run.pauseMs.p99)}, max ${ms(run.pauseMs.max)}** |`,
    `| … of which fence / verify / switch (p50; max) | ${ms(run.phaseMs.fence!.p50)} / ${ms(run.phaseMs.verify!.p50)} / ${ms(run.phaseMs.switch!.p50)} (${ms(run.phaseMs.fence!.max)} / ${ms(run.phaseMs.verify!.max)} / ${ms(run.phaseMs.switch!.max)}) |`,
    `| One bucket's move, capture → done (p50; max) | ${ms(run.moveMs.p50)}; ${ms(run.moveMs.max)}. Per phase, p50: ${Object.entries(
      run.phaseMs,
    )
      .map(([phase, d]) => `${phase} ${d.p50.toFixed(0)}`)
      .join(', ')} ms |`,
    `| A lane's time per bucket (rebalance time × lanes / moves) | ${ms(run.laneMsPerBucket)}: the rest of a move's ${ms(run.moveMs.p50)} p50 is spent outside the phases |`,
    `| Writers alone (${o.writers} loops, ${b.seconds.toFixed(0)} s) | ${writerLine(b)} |`,
    `| Writers during the rebalance | ${writerLine(d)} |`,
    `| Writes that overlapped their bucket's fence | ${run.fencedWrites.count}, p50 ${ms(run.fencedWrites.p50Ms)}, max ${ms(run.fencedWrites.maxMs)} |`,
    `| CPU during the rebalance | mover process ${run.cpu.moverSeconds.toFixed(1)} s, writer process ${run.cpu.writerSeconds.toFixed(1)} s${run.cpu.postgresSeconds === null ? '' : `, their postgres backends ${run.cpu.postgresSeconds.toFixed(1)} s`} (of ${(2 * run.seconds).toFixed(0)} core-seconds) |`,
    `| Load average (1 min) | ${run.loadAverages.map((l) => l.toFixed(1)).join(' → ')} |`,
  ].join('\n')
  return {
    title: `Rebalance 4 → 5 ${engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'} shards of ${run.rows} images under ${o.writers} writers, mover parallel ${o.moverParallel}`,
    rows: [
      {
        side: 'write pause per moved bucket (fence → switch done)',
        figure: `p50 ${ms(run.pauseMs.p50)}, p99 ${ms(run.pauseMs.p99)}, max ${ms(run.pauseMs.max)} over ${run.moves} buckets`,
      },
      {
        side: 'writers during the rebalance',
        figure: `max write latency ${ms(d.maxMs)} (p99 ${ms(d.p99Ms)}; alone: max ${ms(b.maxMs)}, p99 ${ms(b.p99Ms)})`,
      },
      {
        side: 'rebalance',
        figure: `${run.seconds.toFixed(1)} s, ${run.rowsCopied} rows copied, ${(run.rowsCopied / run.seconds).toFixed(0)} rows/s`,
      },
    ],
    runs: [run],
    table,
  }
}
