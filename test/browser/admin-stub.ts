import type { Page } from 'playwright-core'

const now = Date.now()
const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString()

/**
 * Answers in the admin API's contract (GET /v1/admin/queue, dead-letters, shards, keys, audit,
 * metrics; POST redrive), for a server built before that API: the operator view is then drawn
 * and driven in the browser all the same. A server that has the API is asked for real.
 */
const ANSWERS: Record<string, unknown> = {
  'GET /v1/admin/queue': { visible: 3, inFlight: 2, delayed: 1, dead: 1, oldestAgeMs: 4_200 },
  'GET /v1/admin/dead-letters': {
    items: [
      {
        id: 'job-7',
        imageId: '01m94example',
        lastError: 'sharp: VipsJpeg: premature end',
        errors: [],
        attempts: 5,
        queuedAt: at(9),
      },
    ],
  },
  'POST /v1/admin/dead-letters/redrive': { redriven: 1, missing: [] },
  'GET /v1/admin/shards': {
    epoch: 1,
    strategy: { kind: 'hash' },
    shards: [0, 1, 2, 3].map((id) => ({
      id,
      url: `data/shards/shard-${id}.db`,
      reachable: true,
      error: null,
      buckets: 256,
      images: 120 + id * 7,
      bytes: (120 + id * 7) * 180_000,
      bucketStates: { owned: 256 },
      hottestOwners: [],
      migration: null,
    })),
    moves: [],
  },
  'POST /v1/admin/keys': { id: 'k_new', key: 'pf_k_new_secret', ownerId: 'someone', scopes: [] },
  'GET /v1/admin/keys': {
    items: [
      { id: 'k_dash', ownerId: 'dash', scopes: ['admin'], createdAt: at(30), revokedAt: null },
    ],
  },
  'GET /v1/admin/audit': {
    items: [
      {
        id: 'a1',
        at: at(2),
        actor: { ownerId: 'dash', keyId: 'k_dash', via: 'session' },
        action: 'api-key.create',
        target: 'k_new',
        detail: { ownerId: 'someone' },
        requestId: 'req-1',
      },
    ],
    nextCursor: null,
  },
  'GET /v1/admin/metrics': {
    intervalMs: 60_000,
    points: Array.from({ length: 20 }, (_, i) => ({
      at: at(20 - i),
      requests: 40 + ((i * 13) % 25),
      uploads: 3 + (i % 5),
      jobsDone: 2 + ((i * 3) % 6),
      p50Ms: 12 + (i % 4),
      p95Ms: 60 + ((i * 7) % 30),
    })),
  },
}

export async function stubAdminApi(page: Page): Promise<void> {
  await page.route('**/v1/admin/**', async (route) => {
    const request = route.request()
    const key = `${request.method()} ${new URL(request.url()).pathname}`
    if (key === 'DELETE /v1/admin/keys/k_new') return route.fulfill({ status: 204 })
    const body = ANSWERS[key]
    if (body === undefined) return route.fallback()
    await route.fulfill({ status: 200, contentType: 'application/json', json: body })
  })
}
