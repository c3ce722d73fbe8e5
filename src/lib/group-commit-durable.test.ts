import { join } from 'node:path'
import Database from 'better-sqlite3'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { openSqlite } from '../db/sqlite.js'
import { groupCommits, groupCommitsSync } from './group-commit.js'

/** The WAL fsync, held open by the test: what a caller may see before the disk has its commit. */
const fsync = vi.hoisted(() => ({
  calls: 0,
  release: [] as ((error?: Error) => void)[],
}))
vi.mock('./wal-fsync.js', () => ({
  walFsync: () => () => {
    fsync.calls++
    return new Promise<void>((resolve, reject) =>
      fsync.release.push((error) => (error ? reject(error) : resolve())),
    )
  },
}))

const FULL = 2

/** Lets pending callbacks run, so a promise that could settle has settled. */
const turns = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

function track<T>(promise: Promise<T>) {
  const state = { settled: false }
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  )
  return state
}

describe('group commit durability (a file database)', () => {
  const tempDir = useTempDirs('pixelflow-group-commit-durable-')
  beforeEach(() => {
    fsync.calls = 0
    fsync.release = []
  })
  afterEach(() => {
    for (const release of fsync.release) release()
  })

  it('queue: commits relaxed, then settles callers only once the WAL fsync is done', async () => {
    const path = join(await tempDir(), 'queue.db')
    const database = new Database(path)
    database.pragma('journal_mode = WAL')
    database.pragma('synchronous = FULL')
    database.exec('create table t (id integer primary key)')
    const reader = new Database(path, { readonly: true })
    try {
      const write = groupCommitsSync(database)
      let during = -1
      const done = write(() => {
        during = database.pragma('synchronous', { simple: true }) as number
        database.prepare('insert into t (id) values (1)').run()
      })
      const state = track(done)
      await turns()
      // Committed (another connection reads it), not yet promised to anyone.
      expect(reader.prepare('select count(*) from t').pluck().get()).toBe(1)
      expect(state.settled).toBe(false)
      expect(fsync.calls).toBe(1)
      expect(during).toBe(1) // NORMAL within the batch
      expect(database.pragma('synchronous', { simple: true })).toBe(FULL)
      fsync.release[0]!()
      await done
    } finally {
      reader.close()
      database.close()
    }
  })

  it('queue: a failed fsync fails the callers whose writes succeeded; a body that threw keeps its error', async () => {
    const path = join(await tempDir(), 'queue.db')
    const database = new Database(path)
    database.pragma('journal_mode = WAL')
    database.exec('create table t (id integer primary key)')
    try {
      const write = groupCommitsSync(database)
      const ok = write(() => database.prepare('insert into t (id) values (1)').run())
      const bad = write(() => {
        throw new Error('own error')
      })
      await turns()
      fsync.release[0]!(new Error('EIO'))
      await expect(ok).rejects.toThrow('EIO')
      await expect(bad).rejects.toThrow('own error')
    } finally {
      database.close()
    }
  })

  it('shards (Kysely): settles only after the fsync, and leaves the connection at FULL', async () => {
    const db = openSqlite<{ t: { id: number } }>(join(await tempDir(), 'shard.db'))
    try {
      await sql`create table t (id integer primary key)`.execute(db)
      const transact = groupCommits(db)
      const done = Promise.all(
        [1, 2].map((id) => transact((trx) => trx.insertInto('t').values({ id }).execute())),
      )
      const state = track(done)
      for (let i = 0; i < 50 && fsync.calls === 0; i++) await turns()
      expect(fsync.calls).toBe(1)
      expect(state.settled).toBe(false)
      const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(db)
      expect(rows[0]!.synchronous).toBe(FULL)
      fsync.release[0]!()
      await done
      expect((await db.selectFrom('t').selectAll().execute()).length).toBe(2)
    } finally {
      await db.destroy()
    }
  })

  it('in memory: no fsync at all (there is no file)', async () => {
    const database = new Database(':memory:')
    const write = groupCommitsSync(database)
    await write(() => database.exec('create table t (id integer)'))
    expect(fsync.calls).toBe(0)
    database.close()
  })
})
