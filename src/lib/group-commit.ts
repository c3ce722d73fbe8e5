import type Database from 'better-sqlite3'
import { type Kysely, sql, type Transaction } from 'kysely'
import { walFsync } from './wal-fsync.js'

/**
 * Group commit for SQLite files. With synchronous=FULL every commit is an fsync, and
 * better-sqlite3 makes it on the event loop, so under load a process waited on one fsync per
 * upload, per ack. Here the write transactions asked for in one turn of the event loop run one
 * after another inside a single transaction, each in its own savepoint, and share its commit.
 *
 * The shared commit is made with synchronous=NORMAL and made durable by an fsync of the WAL on
 * the thread pool (wal-fsync.ts), awaited before any caller's promise settles: a 202 still means
 * on disk, an ack is still durable, but the event loop no longer stops for the disk (an fsync
 * measured about 1 ms on an idle VM disk, 4 ms median and 10 ms p90 under load; an upload makes
 * three commits). Every other write on the connection keeps
 * synchronous=FULL. Another connection may read a batch's rows before its fsync ends; nothing is
 * promised to anyone before it does.
 *
 * What each caller sees is otherwise unchanged: a body that throws rolls back its own savepoint
 * and only its caller gets the error, and bodies run serially, as the one connection ran them
 * before. A failed commit or fsync fails every caller of the batch.
 */

export type Transact<DB> = <T>(body: (trx: Transaction<DB>) => Promise<T>) => Promise<T>
export type TransactSync = <T>(body: () => T) => Promise<T>

type Outcome = { value: unknown } | { error: unknown }

interface Pending<B> {
  body: B
  settle: (outcome: Outcome) => void
}

/** Kysely over a SQLite file (the metadata shards and the control database). */
export function groupCommits<DB>(db: Kysely<DB>): Transact<DB> {
  let fsync: Promise<(() => Promise<void>) | null> | null = null
  return perTurn<Body<DB>>(async (batch) => {
    fsync ??= fsyncOf(db)
    const sync = await fsync.catch(() => null)
    const outcomes = await db
      .connection()
      .execute((conn) =>
        sync ? relaxed(conn, () => commitBatch(conn, batch)) : commitBatch(conn, batch),
      )
      .catch((error: unknown) => batch.map(() => ({ error })))
    await settleDurably(batch, outcomes, sync)
  }) as Transact<DB>
}

type Body<DB> = (trx: Transaction<DB>) => Promise<unknown>

/** The batch in one transaction, each body in a savepoint; throws when the commit fails. */
async function commitBatch<DB>(db: Kysely<DB>, batch: Pending<Body<DB>>[]): Promise<Outcome[]> {
  if (batch.length === 1)
    return [
      await db
        .transaction()
        .execute(batch[0]!.body)
        .then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        ),
    ]
  const outcomes: Outcome[] = []
  const trx = await db.startTransaction().execute()
  try {
    for (const item of batch) {
      const inner = await trx.savepoint('one').execute()
      try {
        outcomes.push({ value: await item.body(inner) })
      } catch (error) {
        await inner.rollbackToSavepoint('one').execute()
        outcomes.push({ error })
      }
      await inner.releaseSavepoint('one').execute()
    }
    await trx.commit().execute()
  } catch (error) {
    await trx
      .rollback()
      .execute()
      .catch(() => {})
    throw error
  }
  return outcomes
}

/** synchronous=NORMAL for this batch's commit only; the connection's default stays FULL. */
async function relaxed<DB, T>(db: Kysely<DB>, run: () => Promise<T>): Promise<T> {
  await sql`pragma synchronous = NORMAL`.execute(db)
  try {
    return await run()
  } finally {
    await sql`pragma synchronous = FULL`.execute(db)
  }
}

/** The WAL fsync of the database's file; null in memory (no file, nothing to make durable). */
async function fsyncOf<DB>(db: Kysely<DB>): Promise<(() => Promise<void>) | null> {
  const { rows } = await sql<{ name: string; file: string }>`pragma database_list`.execute(db)
  const file = rows.find((row) => row.name === 'main')?.file
  return file ? walFsync(file) : null
}

/**
 * better-sqlite3 used directly (the embedded queue). BEGIN IMMEDIATE takes the write lock first,
 * as each of the queue's claims did on its own. better-sqlite3 runs a transaction function called
 * inside another one as a savepoint.
 */
export function groupCommitsSync(db: Database.Database): TransactSync {
  const inSavepoint = db.transaction((body: () => unknown) => body())
  const all = db.transaction((batch: Pending<() => unknown>[]): Outcome[] =>
    batch.map((item) => {
      try {
        return { value: inSavepoint(item.body) }
      } catch (error) {
        return { error }
      }
    }),
  )
  const sync = db.memory ? null : walFsync(mainFile(db))
  return perTurn<() => unknown>(async (batch) => {
    let outcomes: Outcome[]
    try {
      if (sync) db.pragma('synchronous = NORMAL')
      try {
        outcomes = all.immediate(batch)
      } finally {
        if (sync) db.pragma('synchronous = FULL')
      }
    } catch (error) {
      outcomes = batch.map(() => ({ error }))
    }
    await settleDurably(batch, outcomes, sync)
  }) as TransactSync
}

/** The database's file as SQLite resolved it (db.name is the path as given: a link, relative). */
function mainFile(db: Database.Database): string {
  const rows = db.pragma('database_list') as { name: string; file: string }[]
  return rows.find((row) => row.name === 'main')?.file ?? db.name
}

/** Settles each caller once the batch is on disk; a failed fsync fails those that succeeded. */
async function settleDurably<B>(
  batch: Pending<B>[],
  outcomes: Outcome[],
  sync: (() => Promise<void>) | null,
): Promise<void> {
  const synced =
    sync && outcomes.some((o) => 'value' in o)
      ? await sync().then(
          () => null,
          (error: unknown) => ({ error }),
        )
      : null
  for (const [i, item] of batch.entries()) {
    const outcome = outcomes[i]!
    item.settle(synced && 'value' in outcome ? synced : outcome)
  }
}

/**
 * Collects the bodies asked for in one turn and hands them to `runBatch` together. setImmediate
 * runs after the turn's I/O callbacks: every upload whose file finished in this turn joins, and
 * none waits longer than the turn.
 */
function perTurn<B>(
  runBatch: (batch: Pending<B>[]) => void | Promise<void>,
): (body: B) => Promise<unknown> {
  let waiting: Pending<B>[] = []
  const flush = () => {
    const batch = waiting
    waiting = []
    void runBatch(batch)
  }
  return (body) =>
    new Promise((resolve, reject) => {
      if (waiting.length === 0) setImmediate(flush)
      waiting.push({
        body,
        settle: (outcome) => ('error' in outcome ? reject(outcome.error) : resolve(outcome.value)),
      })
    })
}
