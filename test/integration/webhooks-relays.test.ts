import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllowList } from '../../src/lib/ssrf.js'
import { openControlDb, webhookTablesOf } from '../../src/start/control-db.js'
import { createWebhookEndpoints } from '../../src/webhooks/endpoints.js'
import { eventually } from '../fixtures/eventually.js'
import { createTestDatabases, PG_URL } from '../fixtures/postgres.js'

/**
 * Three relay processes (child processes, each a dispatcher on the same control database) share two shards' events: every delivery is fanned out once, and every attempt is
 * sent by exactly one of them, on SQLite and on PostgreSQL.
 */
const DIALECTS = PG_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)
if (!PG_URL)
  console.info(
    'webhooks-relays.test.ts: PostgreSQL half skipped: set PIXELFLOW_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it',
  )

const EVENTS_PER_SHARD = 30
const RELAY = fileURLToPath(new URL('./fixtures/webhook-relay.ts', import.meta.url))
const ENDPOINTS = 2

describe.each(DIALECTS)('several relays on one %s control database', (dialect) => {
  const attemptsById = new Map<string, number>()
  let server: Server
  let port = 0
  let url = ''
  let cleanup: () => Promise<void> = async () => {}

  beforeAll(async () => {
    // Every delivery fails its first attempt, then succeeds: each is sent exactly twice.
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        const id = String(req.headers['webhook-id'])
        const seen = (attemptsById.get(id) ?? 0) + 1
        attemptsById.set(id, seen)
        setTimeout(() => res.writeHead(seen === 1 ? 503 : 200).end(), Math.random() * 20)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
    if (dialect === 'postgres') {
      const databases = await createTestDatabases('webhook_relays', 1)
      url = databases.urls[0] as string
      cleanup = () => databases.drop()
    } else {
      const dir = await mkdtemp(join(tmpdir(), 'pixelflow-relays-'))
      url = join(dir, 'control.db')
      cleanup = () => rm(dir, { recursive: true, force: true })
    }
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await cleanup()
  })

  it('fans out each event once and sends each attempt from one process', async () => {
    // The control database and its tables exist before the relays start (one migrator).
    const control = await openControlDb(url)
    const db = webhookTablesOf(control)
    const endpoints = createWebhookEndpoints(db, {
      maxEndpoints: 10,
      allow: parseAllowList(`127.0.0.1:${port}`),
    })
    const created = Date.now() - 60_000
    for (let i = 0; i < ENDPOINTS; i++)
      await endpoints.create('alice', { url: `http://127.0.0.1:${port}/hook/${i}` }, created)

    const relays = Array.from({ length: 3 }, () =>
      spawn(
        process.execPath,
        ['--import', 'tsx', RELAY, JSON.stringify({ url, port, events: EVENTS_PER_SHARD })],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    )
    const expected = 2 * EVENTS_PER_SHARD * ENDPOINTS
    try {
      await Promise.all(relays.map((relay) => once(relay.stdout, 'data')))
      await eventually(
        async () => {
          const row = await db
            .selectFrom('webhook_deliveries')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('state', '=', 'delivered')
            .executeTakeFirstOrThrow()
          return Number(row.n) === expected
        },
        // Three relays under tsx start slowly on a loaded machine (CI runs suites side by side).
        { timeoutMs: 120_000, intervalMs: 100, message: `all ${expected} deliveries delivered` },
      )
    } finally {
      await Promise.all(
        relays.map(async (relay) => {
          if (relay.exitCode !== null || relay.signalCode !== null) return // 'exit' came already
          const exited = once(relay, 'exit')
          relay.kill('SIGTERM')
          await exited
        }),
      )
    }
    const rows = await db.selectFrom('webhook_deliveries').selectAll().execute()
    expect(rows).toHaveLength(expected)
    expect(new Set(rows.map((row) => `${row.endpoint_id}/${row.event_id}`)).size).toBe(expected)
    expect(rows.every((row) => row.attempts === 2 && row.last_status === 200)).toBe(true)
    // Exactly two requests per delivery id: no attempt was sent by two relays.
    expect(attemptsById.size).toBe(expected)
    expect([...attemptsById.values()].every((count) => count === 2)).toBe(true)
    const cursors = await db.selectFrom('webhook_cursors').selectAll().orderBy('shard_id').execute()
    expect(cursors).toEqual([
      { shard_id: 0, seq: EVENTS_PER_SHARD },
      { shard_id: 1, seq: EVENTS_PER_SHARD },
    ])
    await control.destroy()
  }, 180_000)
})
