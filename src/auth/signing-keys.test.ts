import { join } from 'node:path'
import type { Kysely } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { useTempDirs } from '../../test/fixtures/temp-dirs.js'
import { authTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { resolveSigningKeys } from './signing-keys.js'

const tempDir = useTempDirs('pixelflow-signing-keys-')
const NONE = { signingKeys: [], signedUrlTtlSeconds: 300 }

const opened: Kysely<ControlDb>[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.destroy()))
})
async function open(url = ':memory:'): Promise<Kysely<ControlDb>> {
  const db = await openControlDb(url)
  opened.push(db)
  return db
}

describe('resolveSigningKeys', () => {
  it('uses the configured keys, in order, and stores nothing', async () => {
    const control = await open()
    const configured = [
      { kid: 'new', secret: 'the-new-secret-16+' },
      { kid: 'old', secret: 'the-old-secret-16+' },
    ]
    expect(
      await resolveSigningKeys({ ...NONE, signingKeys: configured }, authTablesOf(control)),
    ).toEqual(configured)
    expect(await control.selectFrom('settings').selectAll().execute()).toEqual([])
  })

  it('without configured keys, generates one on first use and then always answers it', async () => {
    const control = authTablesOf(await open())
    const [first] = await resolveSigningKeys(NONE, control)
    expect(first).toEqual({ kid: 'local', secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
    expect(await resolveSigningKeys(NONE, control)).toEqual([first])
    // Processes starting together on one control database agree on one key.
    const together = await Promise.all([1, 2, 3].map(() => resolveSigningKeys(NONE, control)))
    expect(together).toEqual([[first], [first], [first]])
  })

  it('keeps the generated key across restarts, and another install gets another key', async () => {
    const path = join(await tempDir(), 'control.db')
    const before = await open(path)
    const [key] = await resolveSigningKeys(NONE, authTablesOf(before))
    await before.destroy()
    opened.splice(opened.indexOf(before), 1)
    expect(await resolveSigningKeys(NONE, authTablesOf(await open(path)))).toEqual([key])
    const [elsewhere] = await resolveSigningKeys(NONE, authTablesOf(await open()))
    expect(elsewhere!.secret).not.toBe(key!.secret)
  })
})
