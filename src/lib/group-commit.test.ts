import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { reusingStatements } from '../db/sqlite.js'
import { groupCommits, groupCommitsSync } from './group-commit.js'

interface Tables {
  parent: { id: number }
  child: { id: number; parent_id: number }
}

let db: Kysely<Tables>
let statements: string[]

beforeEach(async () => {
  statements = []
  const database = new Database(':memory:')
  database.pragma('foreign_keys = ON')
  db = new Kysely<Tables>({
    dialect: new SqliteDialect({ database: reusingStatements(database) }),
    log: (event) => {
      statements.push(event.query.sql.toLowerCase())
    },
  })
  await sql`create table parent (id integer primary key)`.execute(db)
  // Deferred: a missing parent is found at COMMIT, which is how a commit is made to fail here.
  await sql`create table child (id integer primary key, parent_id integer not null
    references parent (id) deferrable initially deferred)`.execute(db)
  statements = []
})

afterEach(() => db.destroy())

const commits = () => statements.filter((text) => text === 'commit').length
const parents = async () =>
  (await db.selectFrom('parent').select('id').orderBy('id').execute()).map((row) => row.id)

describe('groupCommits', () => {
  it('runs the writes asked for in one turn in one transaction with one commit', async () => {
    const transact = groupCommits(db)
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((id) =>
        transact(async (trx) => {
          await trx.insertInto('parent').values({ id }).execute()
          return id * 10
        }),
      ),
    )
    expect(results).toEqual([10, 20, 30, 40, 50])
    expect(commits()).toBe(1)
    expect(await parents()).toEqual([1, 2, 3, 4, 5])
  })

  it('commits separately when the writes come in different turns', async () => {
    const transact = groupCommits(db)
    await transact((trx) => trx.insertInto('parent').values({ id: 1 }).execute())
    await transact((trx) => trx.insertInto('parent').values({ id: 2 }).execute())
    expect(commits()).toBe(2)
  })

  it('rolls back only the body that threw, and gives the error to its caller only', async () => {
    const transact = groupCommits(db)
    const outcomes = await Promise.allSettled([
      transact((trx) => trx.insertInto('parent').values({ id: 1 }).execute()),
      transact(async (trx) => {
        await trx.insertInto('parent').values({ id: 2 }).execute()
        throw new Error('refused after its insert')
      }),
      transact((trx) => trx.insertInto('parent').values({ id: 1 }).execute()), // duplicate key
      transact((trx) => trx.insertInto('parent').values({ id: 3 }).execute()),
    ])
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ])
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('refused')
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toContain('UNIQUE')
    expect(await parents()).toEqual([1, 3])
    expect(commits()).toBe(1)
  })

  it('fails every caller when the shared commit fails, and keeps none of their writes', async () => {
    const transact = groupCommits(db)
    const outcomes = await Promise.allSettled([
      transact((trx) => trx.insertInto('parent').values({ id: 1 }).execute()),
      transact((trx) => trx.insertInto('child').values({ id: 1, parent_id: 99 }).execute()),
    ])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected'])
    expect(await parents()).toEqual([])
    // The connection is usable again afterwards.
    await transact((trx) => trx.insertInto('parent').values({ id: 7 }).execute())
    expect(await parents()).toEqual([7])
  })

  it('settles a caller only after the commit', async () => {
    const transact = groupCommits(db)
    const seen: string[] = []
    await Promise.all(
      [1, 2].map((id) =>
        transact((trx) => trx.insertInto('parent').values({ id }).execute()).then(() =>
          seen.push(`settled after ${commits()} commit(s)`),
        ),
      ),
    )
    expect(seen).toEqual(['settled after 1 commit(s)', 'settled after 1 commit(s)'])
  })
})

describe('groupCommitsSync', () => {
  const tempDir = useTempDirs('pixelflow-group-commit-')

  /** Frames in the WAL: each commit appends the pages it changed; no checkpoint empties it. */
  async function walFrames(path: string, pageSize: number): Promise<number> {
    return ((await stat(`${path}-wal`)).size - 32) / (pageSize + 24)
  }

  async function openFile() {
    const path = join(await tempDir(), 'queue.db')
    const database = new Database(path)
    database.pragma('journal_mode = WAL')
    database.pragma('wal_autocheckpoint = 0')
    database.exec('create table t (id integer primary key)')
    return { database, path, pageSize: database.pragma('page_size', { simple: true }) as number }
  }

  it('shares one commit among the writes of one turn and returns each its value', async () => {
    const { database, path, pageSize } = await openFile()
    try {
      const write = groupCommitsSync(database)
      const insert = database.prepare('insert into t (id) values (?)')
      const before = await walFrames(path, pageSize)
      const ids = await Promise.all(
        [1, 2, 3, 4, 5].map((id) => write(() => Number(insert.run(id).lastInsertRowid))),
      )
      expect(ids).toEqual([1, 2, 3, 4, 5])
      expect((await walFrames(path, pageSize)) - before).toBe(1) // one page, written once
      await write(() => insert.run(6))
      await write(() => insert.run(7))
      expect((await walFrames(path, pageSize)) - before).toBe(3) // other turns, own commits
    } finally {
      database.close()
    }
  })

  it('rolls back only the body that threw; a failed commit fails all and keeps nothing', async () => {
    const { database } = await openFile()
    try {
      const write = groupCommitsSync(database)
      const insert = database.prepare('insert into t (id) values (?)')
      const outcomes = await Promise.allSettled([
        write(() => insert.run(1)),
        write(() => {
          insert.run(2)
          throw new Error('refused after its insert')
        }),
        write(() => insert.run(3)),
      ])
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
      ])
      const ids = () => database.prepare('select id from t order by id').pluck().all()
      expect(ids()).toEqual([1, 3])

      // A deferred foreign key that fails at COMMIT: nobody's write of that batch is kept.
      database.exec(
        `create table child (parent integer references t (id) deferrable initially deferred)`,
      )
      database.pragma('foreign_keys = ON')
      const failed = await Promise.allSettled([
        write(() => insert.run(4)),
        write(() => database.prepare('insert into child values (99)').run()),
      ])
      expect(failed.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected'])
      expect(ids()).toEqual([1, 3])
      expect(database.inTransaction).toBe(false)
    } finally {
      database.close()
    }
  })
})
