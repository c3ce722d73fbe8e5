import Database from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { reusingStatements } from './sqlite.js'

describe('reusingStatements', () => {
  it('prepares one SQL text once and runs it again with other parameters', async () => {
    const database = new Database(':memory:')
    let prepares = 0
    const prepare = database.prepare.bind(database)
    database.prepare = ((text: string) => {
      prepares++
      return prepare(text)
    }) as typeof database.prepare
    const reused = new Kysely<{ parent: { id: number } }>({
      dialect: new SqliteDialect({ database: reusingStatements(database) }),
    })
    try {
      await sql`create table parent (id integer primary key)`.execute(reused)
      const before = prepares
      for (const id of [1, 2, 3]) await reused.insertInto('parent').values({ id }).execute()
      expect(prepares - before).toBe(1)
      const rows = await reused.selectFrom('parent').select('id').execute()
      expect(rows.map((row) => row.id)).toEqual([1, 2, 3])
    } finally {
      await reused.destroy()
    }
  })
})
