/** The shards part's operations: ops/s of each operation over 1, 2, 4 and 8 shards. */

import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ask, killAll, nextMessage, startChild } from '../harness/child.js'
import { loadAverage } from '../harness/measure.js'
import type { TablePart } from '../harness/report.js'
import { inRoundOrder, percentile } from '../harness/stats.js'
import { adminClient, backendClock, createDatabases, serverWide } from './databases.js'
import { type LoadResult, openMetadata, SIDE_FILE, type Target } from './metadata.js'
import { OP_LABELS, OPS, type OpsRun, opsTable, summariseOps } from './ops-report.js'
import { type MetaOptions, POOL_TOTAL, poolFor } from './options.js'
import { seed } from './seed.js'

export async function benchOps(o: MetaOptions): Promise<TablePart> {
  const layouts = o.shardCounts
  const dbs = await createDatabases(layouts.reduce((sum, n) => sum + n + 1, 0))
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-meta-bench-'))
  const runs: OpsRun[] = []
  const seeding: { shards: number; seconds: number; vacuumSeconds: number; perShard: number[] }[] =
    []
  const admin = await adminClient()
  try {
    const targets = new Map<number, { target: Target; sample: string }>()
    let at = 0
    for (const n of layouts) {
      const target: Target = {
        control: dbs.urls[at]!,
        shards: dbs.urls.slice(at + 1, at + 1 + n),
        poolSize: poolFor(o, n),
      }
      at += n + 1
      const { metadata, close } = await openMetadata(target)
      try {
        const seeded = await seed(metadata, o.images, o.owners, o.variants, 50_000, `${n} shard(s)`)
        const sample = join(dir, `sample-${n}.json`)
        writeFileSync(sample, JSON.stringify(seeded.sample))
        targets.set(n, { target, sample })
        seeding.push({
          shards: n,
          seconds: seeded.seconds,
          vacuumSeconds: seeded.vacuumSeconds,
          perShard: [...seeded.perShard.values()],
        })
        console.error(
          `  seeded ${o.images} images (+ ${o.images * o.variants} variants) over ${n} shard(s) in ${seeded.seconds.toFixed(1)} s ` +
            `(${(o.images / seeded.seconds).toFixed(0)} images/s; per shard ${[...seeded.perShard.values()].join(', ')}), VACUUM ANALYZE ${seeded.vacuumSeconds.toFixed(1)} s`,
        )
      } finally {
        await close()
      }
    }
    await serverWide('CHECKPOINT')

    const clientsOf = (p: number) =>
      Math.floor(o.clients / o.processes) + (p < o.clients % o.processes ? 1 : 0)
    for (let round = 0; round < Math.max(1, o.rounds); round++) {
      for (const n of inRoundOrder(layouts, round)) {
        const { target, sample } = targets.get(n)!
        const children = Array.from({ length: o.processes }, (_, p) =>
          startChild(SIDE_FILE, {
            BENCH_META_ROLE: 'load',
            BENCH_META_TARGET: JSON.stringify(target),
            BENCH_META_SAMPLE: sample,
            BENCH_META_OWNERS: String(o.owners),
            BENCH_META_CLIENTS: String(clientsOf(p)),
          }),
        )
        try {
          await Promise.all(children.map((child) => nextMessage(child, 60_000)))
          for (const [i, op] of inRoundOrder(OPS, round).entries()) {
            const timeout = (o.seconds + 30) * 1000
            // A new process: pools to fill, backends' caches and the JIT to warm, so the first operation warms up longer.
            const warmup = i === 0 ? 3 * o.warmupSeconds : o.warmupSeconds
            await Promise.all(
              children.map((child) =>
                ask(child, { type: 'run', op, seconds: warmup, record: false }, timeout),
              ),
            )
            const load = loadAverage()
            const backends = await backendClock(admin, [target.control, ...target.shards])
            const results = await Promise.all(
              children.map((child) =>
                ask<LoadResult>(
                  child,
                  { type: 'run', op, seconds: o.seconds, record: true },
                  timeout,
                ),
              ),
            )
            const postgresCpuSeconds = await backends.read()
            const latencies = results.flatMap((r) => r.latenciesMs)
            const seconds = Math.max(...results.map((r) => r.seconds))
            const ops = results.reduce((sum, r) => sum + r.ops, 0)
            const run: OpsRun = {
              shards: n,
              op,
              round: round + 1,
              ops,
              seconds,
              opsPerSecond: ops / seconds,
              p50Ms: percentile(latencies, 50),
              p99Ms: percentile(latencies, 99),
              errors: results.reduce((sum, r) => sum + r.errors, 0),
              firstError: results.find((r) => r.firstError)?.firstError ?? null,
              misses: results.reduce((sum, r) => sum + r.misses, 0),
              clientCpuSeconds: results.reduce((sum, r) => sum + r.cpuSeconds, 0),
              postgresCpuSeconds,
              loadAverage: load,
            }
            runs.push(run)
            console.error(
              `  round ${run.round}, ${n} shard(s), ${op}: ${run.opsPerSecond.toFixed(0)} ops/s, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms, ` +
                `client CPU ${((100 * run.clientCpuSeconds) / seconds).toFixed(0)} % of a core, our postgres backends ${((100 * run.postgresCpuSeconds!) / seconds).toFixed(0)} %, ` +
                `load ${load.toFixed(1)}${run.errors ? `, ${run.errors} errors (${run.firstError})` : ''}`,
            )
            if (run.errors > 0 || run.misses > 0) {
              throw new Error(
                `${n} shard(s), ${op}: ${run.errors} errors, ${run.misses} ids not found; first error: ${run.firstError}`,
              )
            }
          }
        } finally {
          killAll(children)
        }
      }
    }
  } finally {
    await admin.end().catch(() => {})
    await rm(dir, { recursive: true, force: true })
    await dbs.drop()
  }
  const summary = summariseOps(runs, layouts)
  const rounds = Math.max(1, o.rounds)
  const title =
    `Metadata ops on PostgreSQL: ${o.images} images (${o.variants} variants each) over ${o.owners} owners, ` +
    `${o.clients} clients in ${o.processes} process${o.processes === 1 ? '' : 'es'}, ` +
    `${o.poolSize === null ? `${POOL_TOTAL} connections in all (${layouts.map((n) => poolFor(o, n)).join('/')} per shard)` : `pool ${o.poolSize} per shard`}, ` +
    `${o.seconds} s × ${rounds} runs per cell, all shards on one local server`
  return {
    title,
    rows: summary.map((s) => ({
      side: `${OP_LABELS[s.op]}, ${s.shards} shard${s.shards === 1 ? '' : 's'}`,
      figure:
        `${s.opsPerSecond.toFixed(0)} ops/s (${s.ratio.toFixed(2)} × 1 shard), p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ` +
        `client CPU ${s.clientCpuUs.toFixed(0)} µs/op (${s.clientCore.toFixed(0)} % of a core)` +
        (s.postgresCpuUs === null ? '' : `, postgres ${s.postgresCpuUs.toFixed(0)} µs/op`),
    })),
    runs: [{ seeding }, ...runs],
    table: opsTable(summary, runs),
  }
}
