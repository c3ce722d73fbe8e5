/** The shards part's settings, from BENCH_META_* (defaults: the full run of RESULTS.md). */
import { VARIANT_SHAPES } from './metadata.js'

/**
 * Connections of all shard pools together in the operations part, whatever the layout (16, 8, 4
 * and 2 per shard for 1, 2, 4 and 8 shards): the layouts then differ by sharding alone, not by
 * how many queries can run at once, and 8 shards stay well under max_connections (100 here).
 */
export const POOL_TOTAL = 16
export const poolFor = (o: MetaOptions, shards: number) =>
  o.poolSize ?? Math.max(2, Math.ceil(POOL_TOTAL / shards))

const int = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, got ${process.env[name]}`)
  return value
}

export interface MetaOptions {
  images: number
  owners: number
  variants: number
  shardCounts: number[]
  clients: number
  processes: number
  seconds: number
  warmupSeconds: number
  rounds: number
  /** Per-shard pool of the operations part; null: POOL_TOTAL connections split over the shards. */
  poolSize: number | null
  rebalancePoolSize: number
  rebalanceRows: number
  rebalanceOwners: number
  moverParallel: number
  chunkSize: number
  writers: number
  baselineSeconds: number
}

export function optionsFromEnv(): MetaOptions {
  const rebalanceRows = int('BENCH_META_REBALANCE_ROWS', 1_000_000)
  const options: MetaOptions = {
    images: int('BENCH_META_IMAGES', 200_000),
    owners: int('BENCH_META_OWNERS', 20_000),
    variants: int('BENCH_META_VARIANTS', 2),
    shardCounts: (process.env.BENCH_META_SHARDS ?? '1,2,4,8')
      .split(',')
      .map((s) => Number(s.trim())),
    clients: int('BENCH_META_CLIENTS', 32),
    processes: int('BENCH_META_PROCESSES', 1),
    seconds: int('BENCH_META_SECONDS', 2),
    // Half a second: the pool fills and the JIT warms in that; the first operation of a process
    // gets three times as long (ops.ts). 1 s until the full report outgrew 15 minutes.
    warmupSeconds: 0.5,
    rounds: int('BENCH_META_ROUNDS', 2),
    poolSize: process.env.BENCH_META_POOL ? int('BENCH_META_POOL', 10) : null,
    rebalancePoolSize: int('BENCH_META_POOL', 10),
    rebalanceRows,
    rebalanceOwners: int(
      'BENCH_META_REBALANCE_OWNERS',
      Math.max(1, Math.round(rebalanceRows / 10)),
    ),
    moverParallel: int('BENCH_META_MOVER_PARALLEL', 4),
    chunkSize: int('BENCH_META_CHUNK', 500),
    writers: int('BENCH_META_WRITERS', 4),
    baselineSeconds: int('BENCH_META_BASELINE_SECONDS', 5),
  }
  if (options.variants > VARIANT_SHAPES.length)
    throw new Error(`BENCH_META_VARIANTS is at most ${VARIANT_SHAPES.length}`)
  if (options.shardCounts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`BENCH_META_SHARDS: ${process.env.BENCH_META_SHARDS}`)
  if (options.processes < 1 || options.clients < options.processes)
    throw new Error('BENCH_META_PROCESSES must be between 1 and BENCH_META_CLIENTS')
  return options
}
