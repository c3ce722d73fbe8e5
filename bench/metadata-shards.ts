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
 *   npx tsx bench/metadata-shards.ts
 *   BENCH_META_PARTS=rebalance BENCH_META_REBALANCE_ROWS=200000 npx tsx bench/metadata-shards.ts
 */
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Kysely, sql } from 'kysely'
import pg from 'pg'
import { newImageId } from '../src/domain/ids.js'
import type { BucketMoveRow, MovePhase } from '../src/metadata/control-db.js'
import type { MetadataDb } from '../src/metadata/db.js'
import type { ShardedMetadata } from '../src/metadata/sharded-metadata.js'
import { createMover } from '../src/sharding/mover.js'
import { createTestDatabases, type TestDatabases } from '../test/fixtures/postgres.js'
import {
  type ChildMessage,
  type LoadOp,
  type LoadResult,
  openMetadata,
  ownerName,
  type ParentMessage,
  type Target,
  VARIANT_SHAPES,
  type WritersResult,
} from './metadata-shards-side.js'
import { procFigures } from './services.js'
import {
  inRoundOrder,
  isMain,
  markdownTable,
  median,
  nextMessage,
  type PartResult,
  startChild,
} from './support.js'

export const PG_URL = process.env.PIXELFLOW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const redactUrl = (url: string) => url.replace(/^(postgres(?:ql)?:\/\/[^:/@]+):[^@]*@/, '$1:***@')
const SIDE_FILE = fileURLToPath(new URL('./metadata-shards-side.ts', import.meta.url))
/** Database names: prefix_pid_random (createTestDatabases), so leftovers of a killed run can be told apart. */
const PREFIX = 'pf_bench_meta'
const SEED_BATCH = 5_000
/**
 * Connections of all shard pools together in the operations part, whatever the layout (16, 8, 4
 * and 2 per shard for 1, 2, 4 and 8 shards): the layouts then differ by sharding alone, not by
 * how many queries can run at once, and 8 shards stay well under max_connections (100 here).
 */
const POOL_TOTAL = 16
const poolFor = (o: MetaOptions, shards: number) =>
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
    seconds: int('BENCH_META_SECONDS', 5),
    warmupSeconds: 1,
    rounds: int('BENCH_META_ROUNDS', 3),
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

// ---------------------------------------------------------------------------------------------
// Databases: created per part, dropped at the end (also on Ctrl-C), leftovers of killed runs too.

const liveDatabases = new Set<TestDatabases>()

async function createDatabases(count: number): Promise<TestDatabases> {
  const dbs = await createTestDatabases(PREFIX, count, PG_URL)
  liveDatabases.add(dbs)
  return {
    urls: dbs.urls,
    drop: async () => {
      liveDatabases.delete(dbs)
      await dbs.drop()
    },
  }
}

/** Drops pf_bench_meta_<pid>_* databases whose process is gone (a run killed before its cleanup). */
async function dropLeftovers(): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}\\_%'`,
    )
    for (const { datname } of rows) {
      const pid = Number(/^pf_bench_meta_(\d+)_[0-9a-f]+$/.exec(datname)?.[1])
      if (!pid || pid === process.pid || alive(pid)) continue
      console.error(`  dropping ${datname}, left by process ${pid}`)
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`)
    }
  } finally {
    await admin.end()
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function serverWide(statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  try {
    await admin.query(statement)
  } finally {
    await admin.end()
  }
}

/**
 * CPU seconds so far of the PostgreSQL backends connected to `databases`, by pid (from /proc: the
 * server runs on this machine). Only the bench's own sessions: a sum over every `postgres`
 * process would count other users of the server, and go backwards when their backends exit.
 * Shared server processes (WAL writer, checkpointer) are not included.
 */
async function backendCpu(
  admin: pg.Client,
  databases: readonly string[],
): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])',
    [databases],
  )
  const cpu = new Map<number, number>()
  for (const { pid } of rows) {
    try {
      cpu.set(pid, procFigures(pid).cpuSeconds)
    } catch {
      // ended meanwhile
    }
  }
  return cpu
}

/** CPU the backends used between two readings; one that started meanwhile counts from 0. */
const cpuBetween = (before: Map<number, number>, after: Map<number, number>) =>
  [...after].reduce((sum, [pid, seconds]) => sum + seconds - (before.get(pid) ?? 0), 0)

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1))

async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: PG_URL })
  admin.on('error', () => {})
  await admin.connect()
  return admin
}

// ---------------------------------------------------------------------------------------------
// Seeding: multi-row INSERT … SELECT FROM unnest(arrays) into each shard's tables, by bucket.

interface Seeded {
  /** Inserts, then VACUUM (ANALYZE) of the shards. */
  seconds: number
  vacuumSeconds: number
  sample: string[]
  perShard: Map<number, number>
}

/**
 * `images` rows, image k belonging to owner k mod `owners`, created 1 ms apart (ids sort by
 * time), status ready with `variants` variant rows each. Each row goes to the shard the directory
 * names for its owner's bucket. Keeps every (images / sampleSize)-th id as the sample.
 */
export async function seed(
  metadata: ShardedMetadata,
  images: number,
  owners: number,
  variants: number,
  sampleSize: number,
  label: string,
): Promise<Seeded> {
  const started = performance.now()
  const directory = metadata.directory()
  const bucketOfOwner = Int32Array.from({ length: owners }, (_, n) =>
    metadata.bucketOfOwner(ownerName(n)),
  )
  const dbs = new Map<number, Kysely<MetadataDb>>()
  for (const id of directory.shards.keys()) dbs.set(id, (await metadata.shard(id)).db)
  type Batch = {
    ids: string[]
    owners: string[]
    buckets: number[]
    bytes: number[]
    created: number[]
  }
  const empty = (): Batch => ({ ids: [], owners: [], buckets: [], bytes: [], created: [] })
  const batches = new Map([...dbs.keys()].map((id) => [id, empty()]))
  const perShard = new Map([...dbs.keys()].map((id) => [id, 0]))
  const variantRows = sql.join(
    VARIANT_SHAPES.slice(0, variants).map(
      (v) => sql`(${v.name}, ${v.format}, ${v.width}::int, ${v.height}::int, ${v.bytes}::bigint)`,
    ),
  )

  async function flush(shard: number, batch: Batch): Promise<void> {
    const db = dbs.get(shard)!
    await sql`
      INSERT INTO images (id, owner_id, bucket, visibility, status, format, width, height, frames, bytes, sha256,
                          idempotency_key, placeholder, failure_code, failure_detail, attempts, created_at, updated_at)
      SELECT t.id, t.owner_id, t.bucket, 'public', 'ready', 'jpeg', 4000, 3000, 1, t.bytes, md5(t.id) || md5(t.owner_id),
             NULL, '1QcSHQRnh493V4dIh4eXh1h4kJUI', NULL, NULL, 1, t.created_at, t.created_at
      FROM unnest(${batch.ids}::text[], ${batch.owners}::text[], ${batch.buckets}::int[], ${batch.bytes}::bigint[], ${batch.created}::bigint[])
        AS t(id, owner_id, bucket, bytes, created_at)`.execute(db)
    if (variants === 0) return
    await sql`
      INSERT INTO variants (image_id, bucket, name, format, width, height, bytes, etag, object_key)
      SELECT t.id, t.bucket, v.name, v.format, v.width, v.height, v.bytes, '"' || substr(md5(t.id || v.name || v.format), 1, 16) || '"',
             'images/' || t.id || '/' || v.name || '.' || v.format
      FROM unnest(${batch.ids}::text[], ${batch.buckets}::int[]) AS t(id, bucket)
      CROSS JOIN (VALUES ${variantRows}) AS v(name, format, width, height, bytes)`.execute(db)
  }

  // Two batches in flight: Node builds the next one while PostgreSQL inserts.
  const inFlight = new Set<Promise<void>>()
  let failure: unknown = null
  const launch = (shard: number, batch: Batch) => {
    const running: Promise<void> = flush(shard, batch)
      .catch((error: unknown) => void (failure ??= error))
      .finally(() => inFlight.delete(running))
    inFlight.add(running)
  }
  const room = async () => {
    while (inFlight.size >= 2) await Promise.race(inFlight)
    if (failure) throw failure
  }

  const sample: string[] = []
  const step = sampleSize > 0 ? Math.max(1, Math.floor(images / sampleSize)) : Infinity
  const base = Date.now() - images - 60_000
  let lastReport = performance.now()
  for (let k = 0; k < images; k++) {
    const n = k % owners
    const bucket = bucketOfOwner[n]!
    const shard = directory.shardOf[bucket]!
    const id = newImageId(bucket, base + k)
    const batch = batches.get(shard)!
    batch.ids.push(id)
    batch.owners.push(ownerName(n))
    batch.buckets.push(bucket)
    batch.bytes.push(2_000_000 + ((k * 7919) % 1_000_000))
    batch.created.push(base + k)
    perShard.set(shard, perShard.get(shard)! + 1)
    if (k % step === 0 && sample.length < sampleSize) sample.push(id)
    if (batch.ids.length >= SEED_BATCH) {
      await room()
      launch(shard, batch)
      batches.set(shard, empty())
    }
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now()
      const s = (lastReport - started) / 1000
      console.error(
        `    ${label}: ${k + 1} of ${images} rows in ${s.toFixed(0)} s (${((k + 1) / s).toFixed(0)} rows/s)`,
      )
    }
  }
  for (const [shard, batch] of batches) {
    if (batch.ids.length === 0) continue
    await room()
    launch(shard, batch)
  }
  await Promise.all(inFlight)
  if (failure) throw failure
  // What autovacuum would do soon anyway: planner statistics and the visibility map, so it does
  // not start in the middle of a measurement.
  const inserted = performance.now()
  await Promise.all(
    [...dbs.values()].map((db) => sql`VACUUM (ANALYZE) images, variants`.execute(db)),
  )
  return {
    seconds: (inserted - started) / 1000,
    vacuumSeconds: (performance.now() - inserted) / 1000,
    sample,
    perShard,
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: operations per second for 1, 2, 4, 8 shards.

const OPS: readonly LoadOp[] = ['get', 'get-raw', 'list', 'insert', 'insert-raw']
const OP_LABELS: Record<LoadOp, string> = {
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

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

async function ask<T extends ChildMessage>(
  child: ChildProcess,
  message: ParentMessage,
  timeoutMs: number,
): Promise<T> {
  const answer = nextMessage<T>(child, timeoutMs)
  child.send(message)
  return answer
}

function kill(children: readonly ChildProcess[]): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

export async function benchOps(o: MetaOptions): Promise<PartResult & { table: string }> {
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
            const loadAverage = loadavg()[0]!
            const databases = [target.control, ...target.shards].map(databaseName)
            const pgBefore = await backendCpu(admin, databases)
            const results = await Promise.all(
              children.map((child) =>
                ask<LoadResult>(
                  child,
                  { type: 'run', op, seconds: o.seconds, record: true },
                  timeout,
                ),
              ),
            )
            const pgAfter = await backendCpu(admin, databases)
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
              postgresCpuSeconds: cpuBetween(pgBefore, pgAfter),
              loadAverage,
            }
            runs.push(run)
            console.error(
              `  round ${run.round}, ${n} shard(s), ${op}: ${run.opsPerSecond.toFixed(0)} ops/s, p50 ${run.p50Ms.toFixed(2)} ms, p99 ${run.p99Ms.toFixed(2)} ms, ` +
                `client CPU ${((100 * run.clientCpuSeconds) / seconds).toFixed(0)} % of a core, our postgres backends ${((100 * run.postgresCpuSeconds!) / seconds).toFixed(0)} %, ` +
                `load ${loadAverage.toFixed(1)}${run.errors ? `, ${run.errors} errors (${run.firstError})` : ''}`,
            )
            if (run.errors > 0 || run.misses > 0) {
              throw new Error(
                `${n} shard(s), ${op}: ${run.errors} errors, ${run.misses} ids not found; first error: ${run.firstError}`,
              )
            }
          }
        } finally {
          kill(children)
        }
      }
    }
  } finally {
    await admin.end().catch(() => {})
    await rm(dir, { recursive: true, force: true })
    await dbs
      .drop()
      .catch((error: unknown) => console.error(`  dropping the databases failed: ${String(error)}`))
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

function summariseOps(runs: OpsRun[], layouts: number[]): OpsSummary[] {
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

function opsTable(summary: OpsSummary[], runs: OpsRun[]): string {
  const lines = [
    '| Operation | Shards | ops/s | × 1 shard | p50 | p99 | Client CPU (% of a core; µs/op) | postgres backends CPU (% of a core; µs/op) | Load |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const s of summary) {
    lines.push(
      `| ${OP_LABELS[s.op]} | ${s.shards} | ${s.opsPerSecond.toFixed(0)} | ${s.ratio.toFixed(2)} | ${s.p50.toFixed(2)} ms | ${s.p99.toFixed(2)} ms | ` +
        `${s.clientCore.toFixed(0)} %; ${s.clientCpuUs.toFixed(0)} | ${s.postgresCore === null ? 'n/a' : `${s.postgresCore.toFixed(0)} %; ${s.postgresCpuUs!.toFixed(0)}`} | ${s.loadAverage.toFixed(1)} |`,
    )
  }
  // What src adds over the same queries done raw: the ownership check on a read, the read-back
  // after an insert. Each pair runs back to back in every round, so the ratio is taken per round
  // (same moment, same load) and its median reported.
  const pairs = [
    ['get', 'get-raw', 'getImage vs the same 2 SELECTs'],
    ['insert', 'insert-raw', 'createImage vs its transaction alone'],
  ] as const
  const rows: string[] = []
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
      rows.push(
        `| ${label} | ${n} | **${median(ratios).toFixed(2)}** (${ratios.map((x) => x.toFixed(2)).join(', ')}) | ` +
          `${median(matched.map(({ r, raw }) => r.p50Ms - raw.p50Ms)).toFixed(2)} ms | ${clientDiff.toFixed(0)} | ${pgDiffs.length ? median(pgDiffs).toFixed(0) : 'n/a'} |`,
      )
    }
  }
  if (rows.length > 0) {
    lines.push(
      '',
      '| Operation | Shards | src / raw ops/s, median of the rounds (each round) | p50 src − raw | client CPU µs/op src − raw | postgres backends CPU µs/op src − raw |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
    )
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------------
// Part 2: the write pause per moved bucket during a 4 → 5 rebalance.

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
  cpu: { moverSeconds: number; writerSeconds: number; postgresSeconds: number }
  loadAverages: number[]
}

interface WriterFigures {
  seconds: number
  opsPerSecond: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  ops: number
  inserted: number
  onMovingBuckets: number
}

function writerFigures(r: WritersResult): WriterFigures {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const wallNow = () => performance.timeOrigin + performance.now()

export async function benchRebalance(o: MetaOptions): Promise<PartResult & { table: string }> {
  const dbs = await createDatabases(6)
  const target: Target = {
    control: dbs.urls[0]!,
    shards: dbs.urls.slice(1, 5),
    poolSize: o.rebalancePoolSize,
  }
  let writer: ChildProcess | null = null
  const loadAverages = [loadavg()[0]!]
  try {
    const { metadata, close } = await openMetadata(target)
    try {
      const seeded = await seed(
        metadata,
        o.rebalanceRows,
        o.rebalanceOwners,
        o.variants,
        0,
        '4 shards',
      )
      console.error(
        `  seeded ${o.rebalanceRows} images (+ ${o.rebalanceRows * o.variants} variants) over 4 shards in ${seeded.seconds.toFixed(1)} s ` +
          `(${(o.rebalanceRows / seeded.seconds).toFixed(0)} images/s), VACUUM ANALYZE ${seeded.vacuumSeconds.toFixed(1)} s`,
      )
      await serverWide('CHECKPOINT')
      loadAverages.push(loadavg()[0]!)

      writer = startChild(SIDE_FILE, {
        BENCH_META_ROLE: 'writers',
        BENCH_META_TARGET: JSON.stringify(target),
        BENCH_META_OWNERS: String(o.rebalanceOwners),
        BENCH_META_WRITERS: String(o.writers),
        BENCH_META_VARIANTS: String(o.variants),
      })
      await nextMessage(writer, 60_000)
      const child = writer

      const added = await metadata.addShard(dbs.urls[5]!)
      const phases = new Map<number, Partial<Record<MovePhase, number>>>()
      let finished = 0
      const mover = createMover({
        metadata,
        parallel: o.moverParallel,
        chunkSize: o.chunkSize,
        onPhase: (move: BucketMoveRow, phase: MovePhase, step: number) => {
          if (step !== 0) return
          const times = phases.get(move.bucket) ?? {}
          times[phase] = wallNow()
          phases.set(move.bucket, times)
          if (phase === 'capture')
            child.send({ type: 'moving', bucket: move.bucket, on: true } satisfies ParentMessage)
          if (phase === 'cleanup') {
            child.send({ type: 'moving', bucket: move.bucket, on: false } satisfies ParentMessage)
            finished++
          }
        },
      })
      const plan = await mover.plan()
      if (!plan.every((m) => m.to === added))
        throw new Error(`the 4 → 5 plan moves buckets elsewhere than to shard ${added}`)
      const planned = plan.map((m) => m.bucket)

      // Writers alone first, on the same owners: what their latency is without a move.
      child.send({ type: 'start', planned } satisfies ParentMessage)
      await sleep(o.baselineSeconds * 1000)
      const baseline = await ask<WritersResult>(child, { type: 'stop' }, 60_000)
      console.error(`  writers alone: ${writerLine(writerFigures(baseline))}`)
      if (baseline.errors > 0)
        throw new Error(`writers failed before the rebalance: ${baseline.firstError}`)

      child.send({ type: 'start', planned } satisfies ParentMessage)
      await sleep(500) // writers running before the first fence
      loadAverages.push(loadavg()[0]!)
      const admin = await adminClient()
      const databases = dbs.urls.map(databaseName)
      const pgBefore = await backendCpu(admin, databases)
      const cpuBefore = process.cpuUsage()
      const started = performance.now()
      const progress = setInterval(() => {
        const s = (performance.now() - started) / 1000
        console.error(
          `    ${finished} of ${plan.length} buckets moved in ${s.toFixed(0)} s, load ${loadavg()[0]!.toFixed(1)}`,
        )
      }, 15_000)
      let results: BucketMoveRow[]
      let seconds: number
      let cpuUsed: NodeJS.CpuUsage
      let pgAfter: Map<number, number>
      try {
        results = await mover.run(plan)
        seconds = (performance.now() - started) / 1000
        cpuUsed = process.cpuUsage(cpuBefore)
        pgAfter = await backendCpu(admin, databases)
      } finally {
        clearInterval(progress)
        await admin.end().catch(() => {})
      }
      loadAverages.push(loadavg()[0]!)
      await sleep(500) // and writing a little after the last switch
      const during = await ask<WritersResult>(child, { type: 'stop' }, 60_000)
      if (during.errors > 0)
        throw new Error(
          `writers failed during the rebalance (${during.errors} errors): ${during.firstError}`,
        )

      const failed = results.filter((r) => r.phase !== 'done')
      if (failed.length > 0 || results.length !== plan.length) {
        throw new Error(
          `${results.length} of ${plan.length} moves ended, ${failed.length} not done: ${failed[0]?.detail ?? ''}`,
        )
      }
      await verifyPlacement(metadata, o.rebalanceRows + baseline.inserted + during.inserted)

      const doneAt = new Map(results.map((r) => [r.bucket, r.updated_at]))
      const windows = new Map<number, Window>()
      for (const [bucket, t] of phases) {
        const w = { ...t, done: doneAt.get(bucket) }
        if (STEPS.some((phase) => w[phase] === undefined))
          throw new Error(`bucket ${bucket} lacks phase times: ${JSON.stringify(w)}`)
        windows.set(bucket, w as Window)
      }
      const pauses = [...windows.values()].map((w) => w.cleanup - w.fence)
      const overlapping = overlapsWithFence(during, windows)
      const run: RebalanceRun = {
        rows: o.rebalanceRows,
        owners: o.rebalanceOwners,
        variants: o.variants,
        seedSeconds: seeded.seconds,
        vacuumSeconds: seeded.vacuumSeconds,
        moves: results.length,
        failed: failed.length,
        seconds,
        rowsCopied: results.reduce((sum, r) => sum + r.rows_copied, 0),
        changesApplied: results.reduce((sum, r) => sum + r.changes_applied, 0),
        pauseMs: {
          p50: percentile(pauses, 50),
          p99: percentile(pauses, 99),
          max: Math.max(...pauses),
        },
        phaseMs: phaseDurations([...windows.values()]),
        moveMs: {
          p50: percentile(
            [...windows.values()].map((w) => w.done - w.capture),
            50,
          ),
          max: Math.max(...[...windows.values()].map((w) => w.done - w.capture)),
        },
        laneMsPerBucket:
          (seconds * 1000 * Math.min(o.moverParallel, results.length)) / results.length,
        writers: { baseline: writerFigures(baseline), during: writerFigures(during) },
        fencedWrites: overlapping,
        cpu: {
          moverSeconds: (cpuUsed.user + cpuUsed.system) / 1e6,
          writerSeconds: during.cpuSeconds,
          postgresSeconds: cpuBetween(pgBefore, pgAfter),
        },
        loadAverages,
      }
      console.error(
        `  rebalance: ${run.moves} buckets, ${run.rowsCopied} rows copied in ${seconds.toFixed(1)} s (${(run.rowsCopied / seconds).toFixed(0)} rows/s), ` +
          `write pause p50 ${run.pauseMs.p50.toFixed(1)} ms, p99 ${run.pauseMs.p99.toFixed(1)} ms, max ${run.pauseMs.max.toFixed(1)} ms; writers ${writerLine(run.writers.during)}`,
      )
      return rebalancePart(run, o)
    } finally {
      await close()
    }
  } finally {
    if (writer) kill([writer])
    await dbs
      .drop()
      .catch((error: unknown) => console.error(`  dropping the databases failed: ${String(error)}`))
  }
}

const writerLine = (w: WriterFigures) =>
  `${w.opsPerSecond.toFixed(0)} writes/s, p50 ${w.p50Ms.toFixed(1)} ms, p99 ${w.p99Ms.toFixed(1)} ms, max ${w.maxMs.toFixed(1)} ms (${w.ops} writes, ${w.onMovingBuckets} on buckets being moved)`

/** Phase start times of one move (epoch ms), and when its last phase ended. */
type Window = Record<(typeof STEPS)[number], number>
const STEPS = [
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
function phaseDurations(windows: Window[]): RebalanceRun['phaseMs'] {
  const out: RebalanceRun['phaseMs'] = {}
  for (let i = 0; i < STEPS.length - 1; i++) {
    const durations = windows.map((w) => w[STEPS[i + 1]!] - w[STEPS[i]!])
    out[STEPS[i]!] = { p50: percentile(durations, 50), max: Math.max(...durations) }
  }
  return out
}

/** Writer ops that ran while their bucket was fenced (fence start → cleanup start). */
function overlapsWithFence(
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

/** Every row on the shard the directory names for its bucket, every bucket owned by exactly that shard, no change log left. */
async function verifyPlacement(metadata: ShardedMetadata, expectedRows: number): Promise<void> {
  const directory = await metadata.refresh()
  let total = 0
  const owned = new Array<number>(directory.shardOf.length).fill(0)
  for (const id of directory.shards.keys()) {
    const db = (await metadata.shard(id)).db
    const rows = await db
      .selectFrom('images')
      .select(['bucket', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('bucket')
      .execute()
    for (const row of rows) {
      if (directory.shardOf[row.bucket] !== id)
        throw new Error(
          `shard ${id} still holds ${row.n} rows of bucket ${row.bucket}, which the directory puts on ${directory.shardOf[row.bucket]}`,
        )
      total += Number(row.n)
    }
    const states = await db.selectFrom('bucket_ownership').select(['bucket', 'state']).execute()
    for (const s of states) {
      if (s.state !== 'owned' || directory.shardOf[s.bucket] !== id)
        throw new Error(`shard ${id} has bucket ${s.bucket} as ${s.state}`)
      owned[s.bucket]!++
    }
    const changes = await db
      .selectFrom('bucket_changes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    if (Number(changes.n) !== 0) throw new Error(`shard ${id} kept ${changes.n} change-log rows`)
  }
  if (owned.some((n) => n !== 1)) throw new Error('some bucket is owned by no shard or by two')
  if (total !== expectedRows)
    throw new Error(
      `${total} image rows across the shards after the rebalance, expected ${expectedRows}`,
    )
}

function rebalancePart(run: RebalanceRun, o: MetaOptions): PartResult & { table: string } {
  const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(1)} ms`)
  const { baseline: b, during: d } = run.writers
  const table = [
    '| Figure | Value |',
    '| --- | --- |',
    `| Dataset | ${run.rows} images, ${run.variants} variants each, ${run.owners} owners, 4 shards; seeded in ${run.seedSeconds.toFixed(0)} s (${(run.rows / run.seedSeconds).toFixed(0)} images/s with their variants), then VACUUM ANALYZE ${run.vacuumSeconds.toFixed(0)} s |`,
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
    `| CPU during the rebalance | mover process ${run.cpu.moverSeconds.toFixed(1)} s, writer process ${run.cpu.writerSeconds.toFixed(1)} s, their postgres backends ${run.cpu.postgresSeconds.toFixed(1)} s (of ${(2 * run.seconds).toFixed(0)} core-seconds) |`,
    `| Load average (1 min) | ${run.loadAverages.map((l) => l.toFixed(1)).join(' → ')} |`,
  ].join('\n')
  return {
    title: `Rebalance 4 → 5 shards of ${run.rows} images under ${o.writers} writers, mover parallel ${o.moverParallel}`,
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

// ---------------------------------------------------------------------------------------------

/** Warns when the server may refuse connections: the widest layout opens up to shards × pool per process. */
async function checkConnectionHeadroom(o: MetaOptions): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  try {
    const { rows } = await admin.query<{ max: string; used: string }>(
      `SELECT current_setting('max_connections') AS max, (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used`,
    )
    const free = Number(rows[0]!.max) - Number(rows[0]!.used)
    const opsPools = Math.max(...o.shardCounts.map((n) => n * poolFor(o, n))) * o.processes
    // The mover's pools grow to what its lanes use at once; the writers hold one connection each at most.
    const wanted = Math.max(opsPools, 5 * o.rebalancePoolSize + o.writers) + 4 * o.processes + 10
    if (wanted > free) {
      console.error(
        `  warning: up to ${wanted} connections may be opened, the server has ${free} free of ${rows[0]!.max}; lower BENCH_META_POOL if runs fail`,
      )
    }
  } finally {
    await admin.end()
  }
}

/** Both parts (BENCH_META_PARTS=ops or =rebalance for one). */
export async function benchMetadataShards(
  o = optionsFromEnv(),
): Promise<(PartResult & { table: string })[]> {
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
  const out: (PartResult & { table: string })[] = []
  if (parts.includes('ops')) out.push(await benchOps(o))
  if (parts.includes('rebalance')) out.push(await benchRebalance(o))
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
  const before = loadavg()[0]!
  const started = Date.now()
  console.error(
    `Sharded metadata on PostgreSQL (${redactUrl(PG_URL)}), load average ${before.toFixed(1)}`,
  )
  const parts = await benchMetadataShards()
  if (parts.length === 0) process.exit(1)
  const minutes = (Date.now() - started) / 60_000
  console.log(markdownTable(parts))
  for (const part of parts) console.log(`\n${part.title}\n\n${part.table}`)
  console.log(
    `\nLoad average (1 min) ${before.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}; took ${minutes.toFixed(1)} min`,
  )
  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  const file = `${dir}metadata-shards-${new Date().toISOString().replace(/[:.]/g, '-')}.json`
  writeFileSync(file, JSON.stringify({ loadAverages: [before, loadavg()[0]], parts }, null, 2))
  console.error(`Raw runs written to ${file}`)
}
