import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabases, PG_URL, type TestDatabases } from '../../test/fixtures/postgres.js'
import { auditTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { type AuditLog, createAuditLog } from './audit-log.js'

const DIALECTS = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)
if (!PG_URL)
  console.info(
    'audit-log.test.ts: PostgreSQL half skipped: set PIXELFLOW_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it',
  )

const actor = { ownerId: 'ops', keyId: 'k1', via: 'api-key' }

describe.each(DIALECTS)('the audit log on %s', (dialect) => {
  let control: Kysely<ControlDb>
  let audit: AuditLog
  let dir: string | undefined
  let databases: TestDatabases | undefined
  const now = 1_000

  beforeAll(async () => {
    if (dialect === 'postgres') {
      databases = await createTestDatabases('pf_audit', 1)
      control = await openControlDb(databases.urls[0] as string)
    } else {
      dir = await mkdtemp(join(tmpdir(), 'pf-audit-'))
      control = await openControlDb(join(dir, 'control.db'))
    }
    audit = createAuditLog(auditTablesOf(control), () => now)
  })
  afterAll(async () => {
    await control?.destroy()
    await databases?.drop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('reads back what it recorded, detail and actor included', async () => {
    await audit.record({
      actor,
      action: 'api-key.create',
      target: 'abc',
      detail: { ownerId: 'alice', scopes: ['images:read'] },
      requestId: 'req-1',
    })
    const { items, nextCursor } = await audit.list(10)
    expect(items).toEqual([
      {
        id: expect.any(String),
        at: 1_000,
        actor,
        action: 'api-key.create',
        target: 'abc',
        detail: { ownerId: 'alice', scopes: ['images:read'] },
        requestId: 'req-1',
      },
    ])
    expect(nextCursor).toBeNull()
  })

  it('lists newest first and pages with the cursor, every row once', async () => {
    // The same millisecond for all: the order must come from the insertion order, not the clock.
    for (let i = 0; i < 7; i++)
      await audit.record({
        actor: { ownerId: 'ops', via: 'jwt' },
        action: 'owner.erase',
        target: `owner-${i}`,
        detail: {},
        requestId: `r${i}`,
      })
    const seen: string[] = []
    let cursor: string | undefined
    for (let page = 0; page < 10; page++) {
      const result = await audit.list(3, cursor)
      seen.push(...result.items.map((item) => item.target))
      if (!result.nextCursor) break
      cursor = result.nextCursor
    }
    expect(seen).toEqual([
      'owner-6',
      'owner-5',
      'owner-4',
      'owner-3',
      'owner-2',
      'owner-1',
      'owner-0',
      'abc',
    ])
    const first = (await audit.list(1)).items[0]
    expect(first?.actor).toEqual({ ownerId: 'ops', via: 'jwt' })
  })
})
