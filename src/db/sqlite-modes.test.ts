import { chmod, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { openSqlite } from './sqlite.js'

const tempDir = useTempDirs('pixelflow-sqlite-modes-')
const modeOf = async (path: string) => (await stat(path)).mode & 0o777

/**
 * Issue 11, finding 7: control.db holds the URL-signing secret and API key hashes. Whatever the
 * process umask (the test runs with the usual 022), the files and the folders made for them are
 * the owner's alone.
 */
describe('openSqlite file modes', () => {
  it('creates missing folders 0700 and the database, its WAL and SHM 0600', async () => {
    const dir = join(await tempDir(), 'a', 'b')
    const path = join(dir, 'control.db')
    const db = openSqlite<{ t: { x: number } }>(path)
    try {
      await sql`create table t (x integer)`.execute(db)
      await sql`insert into t values (1)`.execute(db)
      expect(await modeOf(dir)).toBe(0o700)
      expect(await modeOf(join(dir, '..'))).toBe(0o700)
      for (const file of [path, `${path}-wal`, `${path}-shm`])
        expect(await modeOf(file), file).toBe(0o600)
    } finally {
      await db.destroy()
    }
  })

  it('tightens a database file an earlier release left readable by others', async () => {
    const path = join(await tempDir(), 'old.db')
    await writeFile(path, '')
    await chmod(path, 0o644)
    const db = openSqlite(path)
    await db.destroy()
    expect(await modeOf(path)).toBe(0o600)
  })
})
