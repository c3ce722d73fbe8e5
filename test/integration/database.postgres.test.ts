import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.js'
import {
  createTestDatabases,
  describeWithPostgres,
  PG_URL,
  type TestDatabases,
} from '../fixtures/postgres.js'

describeWithPostgres('database.postgres.test.ts')(
  'a PostgreSQL connection that breaks while checked out',
  () => {
    let dbs: TestDatabases
    beforeAll(async () => {
      dbs = await createTestDatabases('pf_conn', 1)
    })
    afterAll(() => dbs?.drop())

    it('is reported, fails its transaction, and does not crash the process', async () => {
      const seen: Error[] = []
      const db = openDatabase<unknown>(dbs.urls[0]!, {
        onConnectionError: (error) => seen.push(error),
      })
      const admin = new pg.Client({ connectionString: PG_URL })
      await admin.connect()
      try {
        const transaction = db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)
          await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid])
          // The connection ends between this transaction's statements: no query is in flight to
          // take the error, so without a listener pg's 'error' event would be uncaught.
          await sleep(300)
          await sql`select 1`.execute(trx)
        })
        await expect(transaction).rejects.toThrow()
        expect(seen.map((e) => e.message).join()).toMatch(/terminat/i)
        expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }])
      } finally {
        await admin.end()
        await db.destroy()
      }
    })
  },
)
