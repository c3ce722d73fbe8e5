import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely'
import { LRUCache } from 'lru-cache'

/** The database files hold API key hashes, the URL-signing key and every owner's rows. */
const DIR_MODE = 0o700
const FILE_MODE = 0o600
/** Distinct SQL texts kept prepared per file: `in (?, ?, …)` lists make texts without end. */
const PREPARED_STATEMENTS = 500

/**
 * Opens a SQLite file for Kysely. WAL lets readers run beside the writer; synchronous=FULL
 * makes a commit durable before it returns, which the upload's 202 promises; the busy timeout
 * lets several processes share a file.
 */
export function openSqlite<DB>(path: string): Kysely<DB> {
  if (path !== ':memory:') ownerOnly(path)
  const database = new Database(path)
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('busy_timeout = 5000')
  database.pragma('foreign_keys = ON')
  return new Kysely<DB>({ dialect: new SqliteDialect({ database: reusingStatements(database) }) })
}

/**
 * Kysely's SQLite driver prepares every query again; on the upload path that was a fifth of the
 * event loop's time. The same SQL text reuses one prepared statement here. A statement an open
 * iterator still holds (`busy`) cannot run twice at once, so that rare case prepares a fresh one.
 */
export function reusingStatements(database: Database.Database): SqliteDatabase {
  const prepared = new LRUCache<string, Database.Statement>({ max: PREPARED_STATEMENTS })
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      const cached = prepared.get(sql)
      if (cached && !cached.busy) return cached
      const statement = database.prepare(sql)
      if (!cached) prepared.set(sql, statement)
      return statement
    },
  }
}

/**
 * Makes the file (and any folder it needs) readable by its owner only, whatever the umask, before
 * SQLite opens it; SQLite gives the -wal and -shm files the database file's mode. A file an
 * earlier release left readable by others is tightened, when this process owns it.
 */
function ownerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE })
  closeSync(openSync(path, 'a', FILE_MODE))
  if ((statSync(path).mode & 0o077) !== 0) {
    try {
      chmodSync(path, FILE_MODE)
    } catch {
      // Not ours to change (another user's file, a read-only mount): SQLite still opens it.
    }
  }
}
