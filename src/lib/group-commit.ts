import type Database from 'better-sqlite3'
import type { Kysely, Transaction } from 'kysely'

/**
 * Group commit for SQLite files. With synchronous=FULL every commit is an fsync, and
 * better-sqlite3 makes it on the event loop, so under load a process waited on one fsync per
 * upload, per ack. Here the write transactions asked for in one turn of the event loop run one
 * after another inside a single transaction, each in its own savepoint, and share its commit.
 *
 * What each caller sees is unchanged: its promise settles only after the shared commit (a 202
 * still means on disk, an ack is still durable), a body that throws rolls back its own savepoint
 * and only its caller gets the error, and bodies run serially, as the one connection ran them
 * before. A failed commit fails every caller of the batch, none of whose writes were kept.
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
  return perTurn<(trx: Transaction<DB>) => Promise<unknown>>(async (batch) => {
    if (batch.length === 1) {
      const [only] = batch as [Pending<(trx: Transaction<DB>) => Promise<unknown>>]
      await db
        .transaction()
        .execute(only.body)
        .then(
          (value) => only.settle({ value }),
          (error: unknown) => only.settle({ error }),
        )
      return
    }
    const outcomes: Outcome[] = []
    try {
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
    } catch (error) {
      for (const item of batch) item.settle({ error })
      return
    }
    for (const [i, item] of batch.entries()) item.settle(outcomes[i]!)
  }) as Transact<DB>
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
  return perTurn<() => unknown>((batch) => {
    let outcomes: Outcome[]
    try {
      outcomes = all.immediate(batch)
    } catch (error) {
      for (const item of batch) item.settle({ error })
      return
    }
    for (const [i, item] of batch.entries()) item.settle(outcomes[i]!)
  }) as TransactSync
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
