import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApiKeys } from '../../src/auth/api-keys.js'
import { createSessions, type Sessions } from '../../src/auth/sessions.js'
import { authTablesOf, openControlDb } from '../../src/start/control-db.js'
import {
  createTestDatabases,
  describeWithPostgres,
  type TestDatabases,
} from '../fixtures/postgres.js'

const describePg = describeWithPostgres('sessions.postgres.test.ts')

/** The dashboard's sessions on a PostgreSQL control database, as a fleet of API processes shares it. */
describePg('sessions on PostgreSQL', () => {
  let databases: TestDatabases
  let control: Awaited<ReturnType<typeof openControlDb>>
  let keys: ReturnType<typeof createApiKeys>
  let sessions: Sessions

  beforeAll(async () => {
    databases = await createTestDatabases('pf_sessions', 1)
    control = await openControlDb(databases.urls[0]!)
    keys = createApiKeys(authTablesOf(control), { rowTtlMs: 0 })
    sessions = createSessions(authTablesOf(control), { ttlMs: 60_000, keyIsLive: keys.isLive })
  })
  afterAll(async () => {
    await control?.destroy()
    await databases?.drop()
  })

  it('opens, verifies, ends with its key and on sign-out; its times survive bigint columns', async () => {
    const { id, key } = await keys.create('alice', ['admin'])
    const principal = (await keys.verify(key))!
    const now = Date.now()
    const a = await sessions.open(principal, now)
    const b = await sessions.open(principal, now)
    expect(await sessions.verify(a.token, now + 1)).toEqual({
      principal: { ownerId: 'alice', scopes: ['admin'], via: 'api-key', keyId: id },
      csrfToken: a.csrfToken,
      expiresAt: now + 60_000,
    })
    await sessions.close(a.token)
    expect(await sessions.verify(a.token, now + 1)).toBeNull()
    expect(await sessions.verify(b.token, now + 1)).not.toBeNull()
    await keys.revoke(id)
    expect(await sessions.verify(b.token, Date.now())).toBeNull()
  })
})
