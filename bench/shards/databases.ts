/**
 * The shards part's databases on the one PostgreSQL server: created per part, dropped at the end
 * (also on Ctrl-C), leftovers of killed runs too; and the CPU of the backends serving them.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createTestDatabases, type TestDatabases } from '../../test/fixtures/postgres.js'
import { procFigures } from '../harness/measure.js'
import { PG_URL } from '../harness/services.js'
import { type MetaOptions, poolFor } from './options.js'

/** Database names: prefix_pid_random (createTestDatabases), so leftovers of a killed run can be told apart. */
const PREFIX = 'pf_bench_meta'

export const liveDatabases = new Set<TestDatabases>()

/** `count` new databases; their `drop` logs a failure rather than hide the run's own error. */
export async function createDatabases(count: number): Promise<TestDatabases> {
  const dbs = await createTestDatabases(PREFIX, count, PG_URL)
  liveDatabases.add(dbs)
  return {
    urls: dbs.urls,
    drop: async () => {
      liveDatabases.delete(dbs)
      await dbs
        .drop()
        .catch((error: unknown) =>
          console.error(`  dropping the databases failed: ${String(error)}`),
        )
    },
  }
}

/** The SQLite layout of the same: `count` database files in a temp folder, removed by `drop`. */
export async function createSqliteFiles(count: number): Promise<TestDatabases> {
  const dir = await mkdtemp(join(tmpdir(), 'pf-bench-meta-'))
  return {
    urls: Array.from({ length: count }, (_, i) =>
      join(dir, i === 0 ? 'control.db' : `shard-${i}.db`),
    ),
    drop: () => rm(dir, { recursive: true, force: true }),
  }
}

/** Drops pf_bench_meta_<pid>_* databases whose process is gone (a run killed before its cleanup). */
export async function dropLeftovers(): Promise<void> {
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

export async function serverWide(statement: string): Promise<void> {
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

/**
 * Starts a CPU clock over the backends serving `urls`; `read()` gives the seconds they used since
 * (a backend that started meanwhile counts from 0).
 */
export async function backendClock(
  admin: pg.Client,
  urls: readonly string[],
): Promise<{ read(): Promise<number> }> {
  const databases = urls.map((url) => decodeURIComponent(new URL(url).pathname.slice(1)))
  const before = await backendCpu(admin, databases)
  return {
    async read() {
      const after = await backendCpu(admin, databases)
      return [...after].reduce((sum, [pid, seconds]) => sum + seconds - (before.get(pid) ?? 0), 0)
    },
  }
}

export async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: PG_URL })
  admin.on('error', () => {})
  await admin.connect()
  return admin
}

/** Warns when the server may refuse connections: the widest layout opens up to shards × pool per process. */
export async function checkConnectionHeadroom(o: MetaOptions): Promise<void> {
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
