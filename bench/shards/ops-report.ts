/** The operations' figures: medians per operation and layout, and src against the same queries raw. */
import { table } from '../harness/report.js'
import { median } from '../harness/stats.js'
import type { LoadOp } from './metadata.js'

export const OPS: readonly LoadOp[] = ['get', 'get-raw', 'list', 'insert', 'insert-raw']
export const OP_LABELS: Record<LoadOp, string> = {
  get: 'get by id (forImageId(id).getImage)',
  'get-raw': 'get by id, raw Kysely (same 2 SELECTs, no ownership check)',
  list: 'list a page (forOwner(o).listImages(o, 20))',
  insert: 'insert (createImage via the router, with outbox row)',
  'insert-raw': 'insert, raw Kysely (same transaction without the read-back)',
}

export interface OpsRun {
  shards: number
  op: LoadOp
  round: number
  ops: number
  seconds: number
  opsPerSecond: number
  p50Ms: number
  p99Ms: number
  errors: number
  firstError: string | null
  misses: number
  clientCpuSeconds: number
  postgresCpuSeconds: number | null
  loadAverage: number
}

interface OpsSummary {
  shards: number
  op: LoadOp
  opsPerSecond: number
  ratio: number
  p50: number
  p99: number
  clientCore: number
  clientCpuUs: number
  postgresCore: number | null
  postgresCpuUs: number | null
  loadAverage: number
}

export function summariseOps(runs: OpsRun[], layouts: number[]): OpsSummary[] {
  const cell = (n: number, op: LoadOp) => runs.filter((r) => r.shards === n && r.op === op)
  const mid = (list: OpsRun[], pick: (r: OpsRun) => number | null) => {
    const values = list.map(pick).filter((v): v is number => v !== null)
    return values.length ? median(values) : null
  }
  const base = Math.min(...layouts)
  const out: OpsSummary[] = []
  for (const op of OPS) {
    const baseRate = mid(cell(base, op), (r) => r.opsPerSecond)
    for (const n of layouts) {
      const list = cell(n, op)
      if (list.length === 0) continue
      const rate = mid(list, (r) => r.opsPerSecond)!
      out.push({
        shards: n,
        op,
        opsPerSecond: rate,
        ratio: baseRate ? rate / baseRate : NaN,
        p50: mid(list, (r) => r.p50Ms)!,
        p99: mid(list, (r) => r.p99Ms)!,
        clientCore: mid(list, (r) => (100 * r.clientCpuSeconds) / r.seconds)!,
        clientCpuUs: mid(list, (r) => (1e6 * r.clientCpuSeconds) / r.ops)!,
        postgresCore: mid(list, (r) =>
          r.postgresCpuSeconds === null ? null : (100 * r.postgresCpuSeconds) / r.seconds,
        ),
        postgresCpuUs: mid(list, (r) =>
          r.postgresCpuSeconds === null ? null : (1e6 * r.postgresCpuSeconds) / r.ops,
        ),
        loadAverage: mid(list, (r) => r.loadAverage)!,
      })
    }
  }
  return out
}

export function opsTable(summary: OpsSummary[], runs: OpsRun[]): string {
  const main = table(
    [
      'Operation',
      'Shards',
      'ops/s',
      '× 1 shard',
      'p50',
      'p99',
      'Client CPU (% of a core; µs/op)',
      'postgres backends CPU (% of a core; µs/op)',
      'Load',
    ],
    summary.map((s) => [
      OP_LABELS[s.op],
      String(s.shards),
      s.opsPerSecond.toFixed(0),
      s.ratio.toFixed(2),
      `${s.p50.toFixed(2)} ms`,
      `${s.p99.toFixed(2)} ms`,
      `${s.clientCore.toFixed(0)} %; ${s.clientCpuUs.toFixed(0)}`,
      s.postgresCore === null
        ? 'n/a'
        : `${s.postgresCore.toFixed(0)} %; ${s.postgresCpuUs!.toFixed(0)}`,
      s.loadAverage.toFixed(1),
    ]),
  )
  // What src adds over the same queries done raw: the ownership check on a read, the read-back
  // after an insert. Each pair runs back to back in every round, so the ratio is taken per round
  // (same moment, same load) and its median reported.
  const pairs = [
    ['get', 'get-raw', 'getImage vs the same 2 SELECTs'],
    ['insert', 'insert-raw', 'createImage vs its transaction alone'],
  ] as const
  const rows: string[][] = []
  for (const [op, rawOp, label] of pairs) {
    for (const n of [...new Set(runs.map((r) => r.shards))]) {
      const matched = runs
        .filter((r) => r.op === op && r.shards === n)
        .flatMap((r) => {
          const raw = runs.find((x) => x.op === rawOp && x.shards === n && x.round === r.round)
          return raw ? [{ r, raw }] : []
        })
      if (matched.length === 0) continue
      const ratios = matched.map(({ r, raw }) => r.opsPerSecond / raw.opsPerSecond)
      const perOp = (r: OpsRun, cpu: number | null) => (cpu === null ? null : (1e6 * cpu) / r.ops)
      const clientDiff = median(
        matched.map(
          ({ r, raw }) => perOp(r, r.clientCpuSeconds)! - perOp(raw, raw.clientCpuSeconds)!,
        ),
      )
      const pgDiffs = matched.flatMap(({ r, raw }) => {
        const a = perOp(r, r.postgresCpuSeconds)
        const b = perOp(raw, raw.postgresCpuSeconds)
        return a === null || b === null ? [] : [a - b]
      })
      rows.push([
        label,
        String(n),
        `**${median(ratios).toFixed(2)}** (${ratios.map((x) => x.toFixed(2)).join(', ')})`,
        `${median(matched.map(({ r, raw }) => r.p50Ms - raw.p50Ms)).toFixed(2)} ms`,
        clientDiff.toFixed(0),
        pgDiffs.length ? median(pgDiffs).toFixed(0) : 'n/a',
      ])
    }
  }
  if (rows.length === 0) return main
  const paired = table(
    [
      'Operation',
      'Shards',
      'src / raw ops/s, median of the rounds (each round)',
      'p50 src − raw',
      'client CPU µs/op src − raw',
      'postgres backends CPU µs/op src − raw',
    ],
    rows,
  )
  return `${main}\n\n${paired}`
}
