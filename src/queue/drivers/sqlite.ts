import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { groupCommitsSync } from '../../lib/group-commit.js'
import { backoffMs } from '../backoff.js'
import type { DeadJob, FailOutcome, LeasedJob, QueueDriver, QueueStats } from '../queue.js'

export interface SqliteQueueOptions {
  path: string
  leaseMs: number
  maxAttempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  now?: () => number
  /** The jitter source; tests pin it. */
  random?: () => number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  payload TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'ready',      -- ready | dead
  attempts INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL,             -- visible when <= now; a lease pushes it forward
  lease_token TEXT,
  errors TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, available_at);
`

/**
 * The embedded queue: one SQLite table. A lease is `available_at` pushed into the future with a
 * fresh token, so an expired lease needs no sweeper: the row is simply visible again. Claims run
 * in BEGIN IMMEDIATE so several processes on one machine never lease a job twice.
 */
export function createSqliteQueue(options: SqliteQueueOptions): QueueDriver {
  const now = options.now ?? Date.now
  const db = openQueueDb(options.path)
  const sql = prepare(db)
  // Every write below shares its turn's commit with the others (db/group-commit.ts): one fsync
  // for the acks, claims and enqueues of many lanes instead of one each.
  const write = groupCommitsSync(db)
  const insert = db.transaction((jobs: { id: string; payload: string }[], at: number) => {
    for (const job of jobs) sql.insert.run(job.id, job.payload, at, at)
  })

  const claim = db.transaction((max: number, at: number): LeasedJob[] => {
    const rows = sql.visible.all(at, max) as { id: string }[]
    return rows.map(({ id }) => {
      const token = randomUUID()
      const leaseUntil = at + options.leaseMs
      const row = sql.lease.get(leaseUntil, token, id) as { payload: string; attempts: number }
      return { id, payload: row.payload, attempts: row.attempts, token, leaseUntil }
    })
  })

  const failTx = db.transaction(
    (id: string, token: string, error: string, at: number, counted: number): FailOutcome => {
      const row = sql.held.get(id, token, at) as { attempts: number; errors: string } | undefined
      if (!row) return 'stale'
      const errors = JSON.stringify([...JSON.parse(row.errors), error.slice(0, 2000)])
      const attempts = Math.min(row.attempts, counted)
      if (attempts >= options.maxAttempts) {
        sql.bury.run(errors, id)
        return 'dead'
      }
      sql.retry.run(
        at + backoffMs(attempts, options.backoffBaseMs, options.backoffMaxMs, options.random),
        errors,
        id,
      )
      return 'retry'
    },
  )

  return {
    driver: 'sqlite',
    async enqueue(jobs) {
      await write(() => insert(jobs, now()))
    },
    receive(max) {
      return write(() => claim(max, now()))
    },
    ack(id, token) {
      return write(() => sql.ack.run(id, token, now()).changes === 1)
    },
    extend(id, token) {
      return write(() => {
        const at = now()
        return sql.extend.run(at + options.leaseMs, id, token, at).changes === 1
      })
    },
    release(id, token) {
      return write(() => {
        const at = now()
        return sql.release.run(at, id, token, at).changes === 1
      })
    },
    fail(id, token, error, attempts = Number.POSITIVE_INFINITY) {
      return write(() => failTx(id, token, error, now(), attempts))
    },
    async stats() {
      return readStats(sql, now())
    },
    async listDead(limit) {
      const rows = sql.dead.all(limit) as {
        id: string
        payload: string
        attempts: number
        errors: string
        created_at: number
      }[]
      return rows.map(
        (r): DeadJob => ({
          id: r.id,
          payload: r.payload,
          attempts: r.attempts,
          errors: JSON.parse(r.errors),
          createdAt: r.created_at,
        }),
      )
    },
    redrive(id) {
      return write(() => sql.redrive.run(now(), id).changes === 1)
    },
    async check() {
      sql.ping.get()
    },
    async close() {
      db.close()
    },
  }
}

function openQueueDb(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  // FULL: an enqueue that returned is on disk, so the outbox row it replaced is never the only copy lost.
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 10000')
  db.exec(SCHEMA)
  return db
}

function prepare(db: Database.Database) {
  const held = `id = ? AND lease_token = ? AND available_at > ? AND state = 'ready'`
  return {
    insert: db.prepare(
      `INSERT OR IGNORE INTO jobs (id, payload, available_at, created_at) VALUES (?, ?, ?, ?)`,
    ),
    visible: db.prepare(
      `SELECT id FROM jobs WHERE state = 'ready' AND available_at <= ? ORDER BY available_at, created_at LIMIT ?`,
    ),
    lease: db.prepare(
      `UPDATE jobs SET available_at = ?, lease_token = ?, attempts = attempts + 1 WHERE id = ? RETURNING payload, attempts`,
    ),
    held: db.prepare(`SELECT attempts, errors FROM jobs WHERE ${held}`),
    ack: db.prepare(`DELETE FROM jobs WHERE ${held}`),
    extend: db.prepare(`UPDATE jobs SET available_at = ? WHERE ${held}`),
    release: db.prepare(`UPDATE jobs SET available_at = ?, lease_token = NULL WHERE ${held}`),
    retry: db.prepare(
      `UPDATE jobs SET available_at = ?, lease_token = NULL, errors = ? WHERE id = ?`,
    ),
    bury: db.prepare(`UPDATE jobs SET state = 'dead', lease_token = NULL, errors = ? WHERE id = ?`),
    dead: db.prepare(
      `SELECT id, payload, attempts, errors, created_at FROM jobs WHERE state = 'dead' ORDER BY created_at LIMIT ?`,
    ),
    redrive: db.prepare(
      `UPDATE jobs SET state = 'ready', attempts = 0, available_at = ?, lease_token = NULL WHERE id = ? AND state = 'dead'`,
    ),
    stats: db.prepare(`SELECT
        SUM(state = 'ready' AND available_at <= @now) AS visible,
        SUM(state = 'ready' AND available_at > @now AND lease_token IS NOT NULL) AS inFlight,
        SUM(state = 'ready' AND available_at > @now AND lease_token IS NULL) AS delayed,
        SUM(state = 'dead') AS dead,
        MIN(CASE WHEN state = 'ready' AND available_at <= @now THEN created_at END) AS oldest
      FROM jobs`),
    ping: db.prepare('SELECT 1'),
  }
}

function readStats(sql: ReturnType<typeof prepare>, at: number): QueueStats {
  const row = sql.stats.get({ now: at }) as Record<string, number | null>
  return {
    visible: row.visible ?? 0,
    inFlight: row.inFlight ?? 0,
    delayed: row.delayed ?? 0,
    dead: row.dead ?? 0,
    oldestAgeMs: row.oldest ? Math.max(0, at - row.oldest) : 0,
  }
}
