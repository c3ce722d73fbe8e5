/**
 * Sharded metadata on PostgreSQL. Two parts, each shard its own database on the one local server
 * (PIXELFLOW_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test), created by the bench
 * and dropped at the end. On one server and two cores, more shards cannot add CPU or disks: these
 * figures show what sharding itself costs or saves (smaller tables and indexes, more pools,
 * routing), not the scale-out of shards on their own machines.
 *
 * Operations: the same dataset (BENCH_META_IMAGES images over BENCH_META_OWNERS owners, each with
 *     BENCH_META_VARIANTS variant rows) seeded over 1, 2, 4 and 8 shards (BENCH_META_SHARDS),
 *     straight into each shard's tables with multi-row inserts, every row on the shard the
 *     directory names for its bucket. Then BENCH_META_CLIENTS async clients in a child process
 *     (BENCH_META_PROCESSES children share them) loop one operation for BENCH_META_SECONDS after
 *     a 1 s warm-up (3 s for a new process's first): get by id (forImageId(id).getImage), the
 *     same two SELECTs raw (without the ownership check), list a page (forOwner(o).listImages(o,
 *     20)), insert (createImage through the router: bucket claim, image and outbox rows and the row
 *     read back, in one transaction) and the same transaction raw (without the read-back). The shard
 *     pools have 16 connections in all, split over the shards (BENCH_META_POOL: that many per
 *     shard instead). BENCH_META_ROUNDS rounds (default 3), layouts and operations in
 *     alternating order; medians. Reported: ops/s, ratio to one shard, p50 / p99 latency, the
 *     client's CPU and that of the PostgreSQL backends serving the bench's databases, and the
 *     price of the ownership check and of createImage's read-back (per-round paired ratios).
 *
 * Rebalance: BENCH_META_REBALANCE_ROWS images (default 1,000,000, BENCH_META_VARIANTS variants
 *     each) over 4 shards; a 5th shard is added (addShard) and the mover runs the 4 → 5 plan
 *     (parallel BENCH_META_MOVER_PARALLEL, default 4) while BENCH_META_WRITERS writers in another
 *     process (their own router) insert images and move them through processing → ready, mostly
 *     in the buckets being moved at that moment. Reported per moved bucket: the write pause, from
 *     the fence phase's start to the cleanup phase's start (the switch is done by then), p50 / p99
 *     / max; the writers' latencies before and during the rebalance; the total time and the rows
 *     copied per second. The run fails unless every move is done and every row ends up, once, on
 *     the shard the directory names.
 *
 * Rebalance on SQLite (opt-in, BENCH_META_PARTS=rebalance-sqlite): the same with a file per
 *     shard and one for the control database, the writers in their own process.
 *
 *   npx tsx bench/shards/run.ts
 *   BENCH_META_PARTS=rebalance BENCH_META_REBALANCE_ROWS=200000 npx tsx bench/shards/run.ts
 *   BENCH_META_PARTS=rebalance-sqlite BENCH_META_REBALANCE_ROWS=200000 npx tsx bench/shards/run.ts
 */
import { isMain } from '../harness/child.js'
import type { TablePart } from '../harness/report.js'
import { PG_URL, redactUrl } from '../harness/services.js'
import { runAlone } from '../harness/standalone.js'
import { checkConnectionHeadroom, dropLeftovers, liveDatabases } from './databases.js'
import { benchOps } from './ops.js'
import { optionsFromEnv } from './options.js'
import { benchRebalance } from './rebalance.js'

/** Both parts (BENCH_META_PARTS=ops or =rebalance for one). */
export async function benchMetadataShards(o = optionsFromEnv()): Promise<TablePart[]> {
  try {
    await dropLeftovers()
  } catch (error) {
    // Like the Redis sides of the gateway part: without the service, the part is skipped, not failed.
    console.error(
      `  skipped: no PostgreSQL at ${redactUrl(PG_URL)} (${(error as Error).message}); set PIXELFLOW_TEST_PG_URL`,
    )
    return []
  }
  await checkConnectionHeadroom(o)
  const parts = (process.env.BENCH_META_PARTS ?? 'ops,rebalance').split(',').map((p) => p.trim())
  const out: TablePart[] = []
  if (parts.includes('ops')) out.push(await benchOps(o))
  if (parts.includes('rebalance')) out.push(await benchRebalance(o))
  // Opt-in (not in the full report's 15 minutes): the same on SQLite files.
  if (parts.includes('rebalance-sqlite')) out.push(await benchRebalance(o, 'sqlite'))
  return out
}

if (isMain(import.meta.url)) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: dropping the bench databases`)
      void Promise.allSettled([...liveDatabases].map((dbs) => dbs.drop())).finally(() =>
        process.exit(130),
      )
    })
  }
  await runAlone('metadata-shards', `Sharded metadata on PostgreSQL (${redactUrl(PG_URL)})`, () =>
    benchMetadataShards(),
  )
}
