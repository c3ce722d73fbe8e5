import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'

/**
 * Opens a SQLite file for Kysely. WAL lets readers run beside the writer; synchronous=FULL
 * makes a commit durable before it returns, which the upload's 202 promises; the busy timeout
 * lets several processes share a file.
 */
export function openSqlite<DB>(path: string): Kysely<DB> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const database = new Database(path)
  database.pragma('journal_mode = WAL')
  database.pragma('synchronous = FULL')
  database.pragma('busy_timeout = 5000')
  database.pragma('foreign_keys = ON')
  return new Kysely<DB>({ dialect: new SqliteDialect({ database }) })
}
