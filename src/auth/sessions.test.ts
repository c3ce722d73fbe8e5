import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppError } from '../errors/index.js'
import { authTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { createSessions, csrfTokenMatches, type Sessions } from './sessions.js'

const T = 1_700_000_000_000
const ALICE = {
  ownerId: 'alice',
  scopes: ['images:read' as const],
  via: 'api-key' as const,
  keyId: 'k1',
}

describe('sessions', () => {
  let control: Kysely<ControlDb>
  let sessions: Sessions
  const live = new Set(['k1'])
  beforeEach(async () => {
    control = await openControlDb(':memory:')
    sessions = createSessions(authTablesOf(control), {
      ttlMs: 60_000,
      keyIsLive: async (id) => live.has(id),
    })
  })
  afterEach(async () => {
    await control.destroy()
    live.add('k1')
  })

  it('stores only a digest of the token, and verifies to the principal until it expires', async () => {
    const opened = await sessions.open(ALICE, T)
    const rows = await authTablesOf(control).selectFrom('sessions').selectAll().execute()
    expect(rows).toHaveLength(1)
    expect(JSON.stringify(rows)).not.toContain(opened.token)
    expect(await sessions.verify(opened.token, T + 59_999)).toEqual({
      principal: ALICE,
      csrfToken: opened.csrfToken,
      expiresAt: T + 60_000,
    })
    expect(await sessions.verify(opened.token, T + 60_000)).toBeNull()
  })

  it('refuses a malformed or unknown token and an upload token as its source', async () => {
    await sessions.open(ALICE, T)
    expect(await sessions.verify('x', T)).toBeNull()
    expect(await sessions.verify('A'.repeat(43), T)).toBeNull()
    const upload = {
      ownerId: 'alice',
      scopes: ['images:upload' as const],
      via: 'upload-token' as const,
    }
    await expect(sessions.open(upload, T)).rejects.toBeInstanceOf(AppError)
  })

  it('ends with its key, and on close', async () => {
    const a = await sessions.open(ALICE, T)
    const b = await sessions.open(ALICE, T)
    live.delete('k1')
    expect(await sessions.verify(a.token, T)).toBeNull()
    live.add('k1')
    await sessions.close(b.token)
    expect(await sessions.verify(b.token, T)).toBeNull()
    expect(await sessions.verify(a.token, T)).not.toBeNull()
  })

  it('drops expired rows when a new session opens', async () => {
    await sessions.open(ALICE, T)
    await sessions.open(ALICE, T + 60_000)
    const rows = await authTablesOf(control).selectFrom('sessions').selectAll().execute()
    expect(rows.map((r) => Number(r.created_at))).toEqual([T + 60_000])
  })

  it('ends no later than the JWT it was opened with', async () => {
    const jwt = { ownerId: 'bob', scopes: ['images:read' as const], via: 'jwt' as const }
    const short = await sessions.open({ ...jwt, expiresAt: T + 30_000 }, T)
    expect(short.expiresAt).toBe(T + 30_000)
    expect(await sessions.verify(short.token, T + 29_999)).not.toBeNull()
    expect(await sessions.verify(short.token, T + 30_000)).toBeNull()
    const long = await sessions.open({ ...jwt, expiresAt: T + 10 * 60_000 }, T)
    expect(long.expiresAt).toBe(T + 60_000)
  })

  it('compares CSRF tokens whole', () => {
    expect(csrfTokenMatches('abc', 'abc')).toBe(true)
    expect(csrfTokenMatches('abc', 'abd')).toBe(false)
    expect(csrfTokenMatches('abc', 'ab')).toBe(false)
    expect(csrfTokenMatches('abc', undefined)).toBe(false)
  })
})
