import { Kysely, type Migration, Migrator, PostgresAdapter, PostgresDialect } from 'kysely'
import pg from 'pg'
import { openSqlite } from './sqlite.js'

export type Dialect = 'sqlite' | 'postgres'

export interface DatabaseOptions {
  /** Connections per PostgreSQL pool; SQLite has one connection per process. */
  poolSize?: number
  /**
   * How long a query may wait for a pooled connection, including connecting, before the shard
   * counts as down. pg uses one timeout for both: it must cover a busy pool's queue under load,
   * not only a dead server (which refuses at once).
   */
  connectTimeoutMs?: number
  /**
   * Called when a pooled connection breaks (a restarted or unreachable server). pg emits these as
   * 'error' events, which crash the process when nobody listens; the query in flight fails anyway.
   */
  onConnectionError?: (error: Error) => void
}

const POSTGRES_URL = /^postgres(ql)?:\/\//

// bigint columns (byte counts, epoch milliseconds) fit in a double: parse them as numbers, as SQLite returns them.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))

/** One switch for every metadata database: a postgres:// URL opens a pool, anything else is a SQLite path. */
export function openDatabase<DB>(url: string, options: DatabaseOptions = {}): Kysely<DB> {
  if (!POSTGRES_URL.test(url)) return openSqlite<DB>(url)

  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
  })
  const report = (error: Error) => options.onConnectionError?.(error)
  // pg-pool listens on idle clients only; a client checked out (by a transaction, between its
  // queries, or mid-query) whose connection ends would emit an unhandled 'error'.
  pool.on('connect', (client) => client.on('error', report))
  pool.on('error', report)
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
}

export function isPostgresUrl(url: string): boolean {
  return POSTGRES_URL.test(url)
}

export function dialectOf(db: Pick<Kysely<unknown>, 'getExecutor'>): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite'
}

/** PostgreSQL has no AUTOINCREMENT keyword; its serial type is the same thing. */
export function serialType(db: Kysely<unknown>) {
  return dialectOf(db) === 'postgres' ? 'serial' : 'integer'
}

/** The column builder of a `serialType` primary key: AUTOINCREMENT on SQLite only. */
export function serial<T extends { autoIncrement(): T }>(db: Kysely<unknown>, column: T): T {
  return dialectOf(db) === 'postgres' ? column : column.autoIncrement()
}

/**
 * Runs every pending migration of `migrations` (in key order) and fails loudly on error.
 * PostgreSQL serialises concurrent migrators with an advisory lock; Kysely's SQLite lock is a
 * no-op, so processes starting together on a fresh file race, and the loser's DDL fails because
 * the winner's already ran. Running again then finds those migrations applied.
 */
export async function migrate(
  db: Kysely<unknown>,
  migrations: Record<string, Migration>,
): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  for (let attempt = 1; ; attempt++) {
    const { error } = await migrator.migrateToLatest()
    if (!error) return
    if (dialectOf(db) === 'postgres' || attempt >= 5) throw error
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80))
  }
}

/** True for a unique-constraint violation on SQLite (better-sqlite3) or PostgreSQL (pg). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return (
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === '23505'
  )
}

/** SQLite result codes that mean "this file cannot serve now", as opposed to a bug in a query. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|CORRUPT|NOTADB)/
/** Socket errors and SQLSTATEs of a PostgreSQL server that is down, restarting, full or gone. */
const NET_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
const PG_UNAVAILABLE = /^(08...|57P0[123]|53300|3D000)$/
/** pg reports a few connection failures as plain Errors without a code. */
const PG_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed/

/** True when an error means the database is unreachable rather than that the query was wrong. */
export function isUnavailable(error: unknown): boolean {
  const code = String((error as { code?: unknown } | null)?.code ?? '')
  if (SQLITE_UNAVAILABLE.test(code) || NET_UNAVAILABLE.has(code) || PG_UNAVAILABLE.test(code))
    return true
  return error instanceof Error && PG_MESSAGES.test(error.message)
}
