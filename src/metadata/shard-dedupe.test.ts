import { CompiledQuery } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { migrate } from '../db/database.js'
import { openSqlite } from '../db/sqlite.js'
import type { MetadataDb } from './db.js'
import { SHARD_MIGRATIONS } from './migrations/index.js'
import { sameBytes } from './shard-dedupe.js'

const db = openSqlite<MetadataDb>(':memory:')
afterEach(() => db.destroy())

describe('content dedupe lookup', () => {
  // Every upload runs it: a scan of the owner's images made each upload slower than the last.
  it('seeks the owner and hash in one index, with no scan of the owner and no sort', async () => {
    await migrate(db as never, SHARD_MIGRATIONS)
    const query = sameBytes(db, { ownerId: 'o', sha256: 'ab', visibility: 'public' }).compile()
    const plan = await db.executeQuery<{ detail: string }>(
      CompiledQuery.raw(`explain query plan ${query.sql}`, [...query.parameters]),
    )
    const steps = plan.rows.map((row) => row.detail)
    expect(steps).toEqual([expect.stringMatching(/USING INDEX \S+ \(owner_id=\? AND sha256=\?\)/)])
  })
})
