import type { Kysely } from 'kysely'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { migrate, openDatabase } from '../db/database.js'
import { EMPTY_ALLOW_LIST, parseAllowList } from '../lib/ssrf.js'
import { claimDue, pruneFinished, recordAttempt } from './delivery-store.js'
import { retryDelayMs, startWebhookDispatcher } from './dispatcher.js'
import { createWebhookEndpoints, type WebhookEndpoints } from './endpoints.js'
import { CursorMoved, type EventSource, fanOutShard, type WebhookEvent } from './fan-out.js'
import { WEBHOOK_MIGRATIONS, type WebhookTables } from './tables.js'

const T = 1_700_000_000_000
const PUBLIC_URL = 'https://93.184.215.14/hooks'

let db: Kysely<WebhookTables>
let endpoints: WebhookEndpoints

beforeEach(async () => {
  db = openDatabase<WebhookTables>(':memory:')
  await migrate(db as Kysely<unknown>, WEBHOOK_MIGRATIONS)
  endpoints = createWebhookEndpoints(db, { maxEndpoints: 3, allow: EMPTY_ALLOW_LIST })
})
afterEach(async () => {
  await db.destroy()
})

/** The shards' outboxes as plain lists: what start/ would hand the dispatcher. */
function eventsOf(byShard: Record<number, WebhookEvent[]>): EventSource {
  return {
    shards: () => Object.keys(byShard).map(Number),
    readEvents: async (shardId, afterSeq, limit) =>
      (byShard[shardId] ?? []).filter((event) => event.seq > afterSeq).slice(0, limit),
  }
}

const event = (seq: number, ownerId: string, type = 'image.ready', at = T + seq): WebhookEvent =>
  ({
    id: `1-${seq}`,
    seq,
    type,
    ownerId,
    occurredAt: at,
    data: { imageId: `img${seq}`, status: 'ready' },
  }) as WebhookEvent

const deliveries = () =>
  db.selectFrom('webhook_deliveries').selectAll().orderBy('event_id').execute()

describe('webhook endpoints', () => {
  it('shows the whsec_ secret once, never in reads, and defaults to every event type', async () => {
    const created = await endpoints.create('alice', { url: PUBLIC_URL }, T)
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/)
    expect(created.events).toEqual(['image.ready', 'image.failed', 'image.deleted'])
    const listed = await endpoints.list('alice')
    expect(listed).toEqual([
      { id: created.id, url: PUBLIC_URL, events: created.events, description: null, createdAt: T },
    ])
    expect(JSON.stringify(await endpoints.get('alice', created.id))).not.toContain('whsec_')
  })

  it("keeps owners apart: bob can neither see nor delete alice's endpoint", async () => {
    const created = await endpoints.create('alice', { url: PUBLIC_URL, events: ['image.failed'] })
    expect(await endpoints.list('bob')).toEqual([])
    await expect(endpoints.get('bob', created.id)).rejects.toMatchObject({
      code: 'WEBHOOK_NOT_FOUND',
    })
    await expect(endpoints.delete('bob', created.id)).rejects.toMatchObject({
      code: 'WEBHOOK_NOT_FOUND',
    })
    await expect(endpoints.deliveries('bob', created.id, 10)).rejects.toMatchObject({
      code: 'WEBHOOK_NOT_FOUND',
    })
    expect((await endpoints.get('alice', created.id)).events).toEqual(['image.failed'])
  })

  it('refuses a private URL unless the allow-list names it, and caps endpoints per owner', async () => {
    await expect(endpoints.create('alice', { url: 'http://10.0.0.5/hook' })).rejects.toMatchObject({
      code: 'URL_FORBIDDEN',
    })
    const allowed = createWebhookEndpoints(db, {
      maxEndpoints: 2,
      allow: parseAllowList('10.0.0.0/8'),
    })
    await allowed.create('alice', { url: 'http://10.0.0.5/hook' })
    await allowed.create('alice', { url: 'http://10.0.0.6/hook' })
    await expect(allowed.create('alice', { url: 'http://10.0.0.7/hook' })).rejects.toMatchObject({
      code: 'WEBHOOK_LIMIT_EXCEEDED',
    })
    await allowed.create('bob', { url: 'http://10.0.0.7/hook' })
  })
})

describe('fan-out', () => {
  it('writes one delivery per subscribed endpoint that existed at the event, and advances the cursor', async () => {
    const all = await endpoints.create('alice', { url: PUBLIC_URL }, T)
    const failures = await endpoints.create(
      'alice',
      { url: PUBLIC_URL, events: ['image.failed'] },
      T,
    )
    const late = await endpoints.create('alice', { url: PUBLIC_URL }, T + 2)
    await endpoints.create('bob', { url: PUBLIC_URL }, T)
    const source = eventsOf({
      1: [event(1, 'alice'), event(2, 'alice', 'image.failed'), event(3, 'carol')],
    })
    expect(await fanOutShard(db, source, 1, 100, T + 10)).toBe(3)
    const rows = await deliveries()
    const pairs = rows.map((row) => [row.event_id, row.endpoint_id])
    expect(pairs).toEqual(
      expect.arrayContaining([
        ['1-1', all.id],
        ['1-2', all.id],
        ['1-2', failures.id],
        ['1-2', late.id],
      ]),
    )
    expect(rows).toHaveLength(4)
    expect(JSON.parse(rows[0]?.payload ?? '')).toEqual({
      type: 'image.ready',
      timestamp: new Date(T + 1).toISOString(),
      data: { imageId: 'img1', status: 'ready' },
    })
    // Nothing new: the cursor is at 3, a second run writes nothing.
    expect(await fanOutShard(db, source, 1, 100, T + 20)).toBe(0)
    expect(await deliveries()).toHaveLength(4)
  })

  it('pages through a shard and keeps one cursor per shard', async () => {
    await endpoints.create('alice', { url: PUBLIC_URL }, T)
    const source = eventsOf({
      1: [event(1, 'alice'), event(2, 'alice'), event(3, 'alice')],
      2: [{ ...event(1, 'alice'), id: '2-1' }],
    })
    expect(await fanOutShard(db, source, 1, 2, T)).toBe(2)
    expect(await fanOutShard(db, source, 1, 2, T)).toBe(1)
    expect(await fanOutShard(db, source, 2, 2, T)).toBe(1)
    const cursors = await db.selectFrom('webhook_cursors').selectAll().orderBy('shard_id').execute()
    expect(cursors).toEqual([
      { shard_id: 1, seq: 3 },
      { shard_id: 2, seq: 1 },
    ])
    expect((await deliveries()).map((row) => row.event_id)).toEqual(['1-1', '1-2', '1-3', '2-1'])
  })

  it('a fan-out racing another that already advanced the cursor rolls back', async () => {
    await endpoints.create('alice', { url: PUBLIC_URL }, T)
    const source = eventsOf({ 1: [event(1, 'alice'), event(2, 'alice')] })
    await fanOutShard(db, source, 1, 1, T)
    // The other process read the cursor (1) and the next page; this one moves the cursor first.
    const slow: EventSource = {
      ...source,
      readEvents: async (shard, after, limit) => {
        const page = await source.readEvents(shard, after, limit)
        await fanOutShard(db, source, 1, 1, T)
        return page
      },
    }
    await expect(fanOutShard(db, slow, 1, 1, T)).rejects.toBeInstanceOf(CursorMoved)
    expect((await deliveries()).map((row) => row.event_id)).toEqual(['1-1', '1-2'])
  })
})

describe('claims and attempts', () => {
  async function oneDelivery() {
    await endpoints.create('alice', { url: PUBLIC_URL }, T)
    await fanOutShard(db, eventsOf({ 1: [event(1, 'alice')] }), 1, 10, T)
  }

  it('a claimed delivery is not claimed again until its lease runs out', async () => {
    await oneDelivery()
    const [first] = await claimDue(db, 10, T, 1000)
    expect(first?.url).toBe(PUBLIC_URL)
    expect(first?.secret).toMatch(/^whsec_/)
    expect(await claimDue(db, 10, T + 500, 1000)).toEqual([])
    const [again] = await claimDue(db, 10, T + 1001, 1000)
    expect(again?.id).toBe(first?.id)
    // The first holder lost its lease: what it records now is ignored.
    if (!first || !again) throw new Error('unreachable')
    await recordAttempt(db, first, { kind: 'delivered', status: 200 }, settings(T + 1002))
    expect((await deliveries())[0]?.state).toBe('pending')
    await recordAttempt(db, again, { kind: 'delivered', status: 204 }, settings(T + 1003))
    expect((await deliveries())[0]).toMatchObject({ state: 'delivered', attempts: 1 })
  })

  it('a failure waits for its retry time; the last allowed failure makes it dead; redrive revives it', async () => {
    await oneDelivery()
    const failure = { kind: 'failed', status: 500, error: 'HTTP 500', permanent: false } as const
    let now = T
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [claimed] = await claimDue(db, 10, now, 1000)
      if (!claimed) throw new Error(`attempt ${attempt} was not due`)
      const state = await recordAttempt(db, claimed, failure, {
        now,
        maxAttempts: 3,
        retryInMs: 100,
      })
      expect(state).toBe(attempt < 3 ? 'pending' : 'dead')
      expect(await claimDue(db, 10, now + 99, 1000)).toEqual([])
      now += 100
    }
    expect(await claimDue(db, 10, now + 10_000, 1000)).toEqual([])
    const [endpoint] = await endpoints.list('alice')
    const [dead] = await endpoints.deliveries('alice', endpoint?.id ?? '', 10)
    expect(dead).toMatchObject({ state: 'dead', attempts: 3, lastStatus: 500, nextAttemptAt: null })
    const revived = await endpoints.redrive('alice', endpoint?.id ?? '', dead?.id ?? '', now)
    expect(revived).toMatchObject({ state: 'pending', attempts: 0, nextAttemptAt: now })
    await expect(
      endpoints.redrive('alice', endpoint?.id ?? '', dead?.id ?? '', now),
    ).rejects.toMatchObject({ code: 'WEBHOOK_DELIVERY_NOT_DEAD' })
    expect(await claimDue(db, 10, now, 1000)).toHaveLength(1)
  })

  it('a permanent failure is dead at once', async () => {
    await oneDelivery()
    const [claimed] = await claimDue(db, 10, T, 1000)
    if (!claimed) throw new Error('not claimed')
    const forbidden = {
      kind: 'failed',
      status: null,
      error: 'URL_FORBIDDEN',
      permanent: true,
    } as const
    expect(await recordAttempt(db, claimed, forbidden, settings(T))).toBe('dead')
  })

  it('prunes finished deliveries past the retention, never pending ones', async () => {
    await oneDelivery()
    await fanOutShard(db, eventsOf({ 1: [event(1, 'alice'), event(2, 'alice')] }), 1, 10, T)
    const [claimed] = await claimDue(db, 1, T, 1000)
    if (!claimed) throw new Error('not claimed')
    await recordAttempt(db, claimed, { kind: 'delivered', status: 200 }, settings(T))
    expect(await pruneFinished(db, T)).toBe(0)
    expect(await pruneFinished(db, T + 1)).toBe(1)
    expect((await deliveries()).map((row) => row.state)).toEqual(['pending'])
  })

  it('deleting an endpoint drops its deliveries', async () => {
    await oneDelivery()
    const [endpoint] = await endpoints.list('alice')
    await endpoints.delete('alice', endpoint?.id ?? '')
    expect(await deliveries()).toEqual([])
    expect(await claimDue(db, 10, T, 1000)).toEqual([])
  })
})

describe('the dispatcher', () => {
  it('says loudly when events were pruned before they were fanned out', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) })
    const source: EventSource = { ...eventsOf({ 1: [] }), prunedThrough: async () => 5 }
    const dispatcher = startWebhookDispatcher({
      db,
      source,
      allow: EMPTY_ALLOW_LIST,
      logger,
      settings: {
        maxAttempts: 3,
        timeoutMs: 1000,
        backoffBaseMs: 10,
        backoffMaxMs: 100,
        concurrency: 1,
        leaseMs: 5000,
        intervalMs: 10,
        batchSize: 10,
        retentionDays: 1,
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    await dispatcher.stop()
    const found = lines.map((line) => JSON.parse(line)).find((entry) => entry.prunedThrough === 5)
    expect(found).toMatchObject({ shard: 1, cursor: 0, msg: expect.stringMatching(/pruned/) })
  })
})

describe('the retry schedule', () => {
  it('grows exponentially up to the ceiling, jittered between half and all of it', () => {
    const settings = { backoffBaseMs: 1000, backoffMaxMs: 60_000 }
    expect(retryDelayMs(1, settings, () => 0)).toBe(500)
    expect(retryDelayMs(1, settings, () => 1)).toBe(1000)
    expect(retryDelayMs(4, settings, () => 1)).toBe(8000)
    expect(retryDelayMs(20, settings, () => 1)).toBe(60_000)
    expect(retryDelayMs(20, settings, () => 0)).toBe(30_000)
  })
})

function settings(now: number) {
  return { now, maxAttempts: 5, retryInMs: 1000 }
}
