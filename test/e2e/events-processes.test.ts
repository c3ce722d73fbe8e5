import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiKeys } from '../../src/auth/api-keys.js'
import { authTablesOf, openControlDb } from '../../src/start/control-db.js'
import { eventually } from '../fixtures/eventually.js'
import { makeAvif, makeJpeg } from '../fixtures/images.js'
import { createMetadataEnv, type MetadataEnv } from '../fixtures/metadata-env.js'
import { PG_URL } from '../fixtures/postgres.js'
import { freePort, type ServeProcess, startRole } from '../fixtures/serve-process.js'
import { openSse, type SseClient } from '../fixtures/sse.js'

const REDIS_URL = process.env.PIXELFLOW_TEST_REDIS_URL
if (!PG_URL || !REDIS_URL)
  console.info(
    'events-processes.test.ts: runs on SQLite files without Redis hints; set PIXELFLOW_TEST_PG_URL and PIXELFLOW_TEST_REDIS_URL for PostgreSQL shards and hints over Redis',
  )

/**
 * The live stream across real processes: an `api` and a separate `worker` (the compiled binary)
 * sharing PostgreSQL shards (SQLite files without PIXELFLOW_TEST_PG_URL), a data dir (objects,
 * SQLite queue) and, when set, Redis for the wake-up hints. With Redis the API's fallback poll is
 * a minute, so an event seen within seconds came by a hint from the worker's process.
 */
describe(`GET /v1/events across an api and a worker process (${PG_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let dir: string
  let metadata: MetadataEnv | undefined
  let env: Record<string, string>
  let api: ServeProcess
  let worker: ServeProcess
  let port: number
  let alice: string
  let bob: string
  const clients: SseClient[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-events-'))
    metadata = PG_URL ? await createMetadataEnv('postgres', 2, 0) : undefined
    env = {
      PIXELFLOW_DATA_DIR: dir,
      PIXELFLOW_LOG_LEVEL: 'warn',
      PIXELFLOW_WORKER_CONCURRENCY: '2',
      PIXELFLOW_WORKER_POLL_MS: '50',
      PIXELFLOW_RELAY_INTERVAL_MS: '50',
      PIXELFLOW_EVENTS_HEARTBEAT_MS: '500',
      PIXELFLOW_EVENTS_POLL_MS: REDIS_URL ? '60000' : '200',
      ...(metadata?.env ?? {}),
      ...(REDIS_URL
        ? { PIXELFLOW_REDIS_URL: REDIS_URL, PIXELFLOW_REDIS_PREFIX: `pf-events-${process.pid}:` }
        : {}),
    }
    port = await freePort()
    api = await startRole(env, port, 'api')
    worker = await startRole(env, await freePort(), 'worker')
    const control = await openControlDb(env.PIXELFLOW_CONTROL_DB ?? join(dir, 'control.db'))
    const keys = createApiKeys(authTablesOf(control))
    alice = (await keys.create('alice')).key
    bob = (await keys.create('bob')).key
    await control.destroy()
  }, 120_000)

  afterAll(async () => {
    for (const client of clients) client.close()
    for (const role of [api, worker]) {
      role?.child.kill('SIGTERM')
      await role?.exited
    }
    await metadata?.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  const auth = (key: string) => ({ authorization: `Bearer ${key}` })
  const base = () => `http://127.0.0.1:${port}`

  async function stream(key: string, lastEventId?: string) {
    const client = await openSse(`${base()}/v1/events`, {
      ...auth(key),
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    })
    clients.push(client)
    expect(client.status).toBe(200)
    await eventually(() => client.lastEventId() !== undefined, { message: 'the opening id' })
    return client
  }

  async function upload(key: string, body: Buffer, type = 'image/jpeg'): Promise<string> {
    const res = await fetch(`${base()}/v1/images`, {
      method: 'POST',
      headers: { ...auth(key), 'content-type': type },
      body: new Uint8Array(body),
    })
    expect(res.status).toBe(202)
    return ((await res.json()) as { id: string }).id
  }

  async function settled(key: string, id: string): Promise<string> {
    return eventually(
      async () => {
        const res = await fetch(`${base()}/v1/images/${id}`, { headers: auth(key) })
        const body = (await res.json()) as { status: string }
        return body.status === 'ready' || body.status === 'failed' ? body.status : false
      },
      { timeoutMs: 30_000, message: `image ${id} settled` },
    )
  }

  const idsOf = (client: SseClient, type: string) =>
    client.messages
      .filter((m) => m.event === type)
      .map((m) => JSON.parse(m.data).data.imageId as string)

  it('sees its own image.ready from the worker process, not another owner’s; resumes exactly after a disconnect and an API restart', async () => {
    const live = await stream(alice)
    const bobs = await upload(bob, await makeJpeg(300, 200))
    const first = await upload(alice, await makeJpeg(320, 240))
    await live.waitFor('image.ready', 1, 15_000)
    expect(idsOf(live, 'image.ready')).toEqual([first])
    expect(await settled(bob, bobs)).toBe('ready')
    live.close()
    const resumeFrom = live.lastEventId() as string

    // More images complete while the client is away, then the API process restarts.
    const missed = [
      await upload(alice, await makeJpeg(330, 240)),
      await upload(alice, await makeJpeg(340, 240)),
    ]
    for (const id of missed) expect(await settled(alice, id)).toBe('ready')
    api.child.kill('SIGTERM')
    expect(await api.exited).toBe(0)
    api = await startRole(env, port, 'api')

    const resumed = await stream(alice, resumeFrom)
    await resumed.waitFor('image.ready', 2, 15_000)
    // A new one arrives on the same stream, after the missed ones.
    const after = await upload(alice, await makeJpeg(350, 240))
    await resumed.waitFor('image.ready', 3, 15_000)
    await new Promise((resolve) => setTimeout(resolve, 500))
    // No gap, no repeat; the missed two in the order the workers finished them, then the new one.
    const seen = idsOf(resumed, 'image.ready')
    expect(seen).toHaveLength(3)
    expect(seen.slice(0, 2).sort()).toEqual([...missed].sort())
    expect(seen[2]).toBe(after)
    expect(idsOf(resumed, 'image.ready')).not.toContain(bobs)

    // image.failed for an image the worker cannot decode, image.deleted for a delete.
    const avif = await makeAvif(400, 300)
    const broken = await upload(
      alice,
      avif.subarray(0, Math.floor(avif.length * 0.7)),
      'image/avif',
    )
    const [failed] = await resumed.waitFor('image.failed', 1, 15_000)
    expect(JSON.parse(failed!.data).data).toMatchObject({
      imageId: broken,
      status: 'failed',
      failure: { code: expect.stringMatching(/^IMAGE_/) },
    })
    const res = await fetch(`${base()}/v1/images/${after}`, {
      method: 'DELETE',
      headers: auth(alice),
    })
    expect(res.status).toBe(204)
    const [deleted] = await resumed.waitFor('image.deleted', 1, 15_000)
    expect(JSON.parse(deleted!.data).data).toEqual({ imageId: after, status: 'deleted' })

    // Bob's stream, resuming from Alice's id: only Bob's own image, whatever the position.
    const bobStream = await stream(bob, resumeFrom)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const bobSees = bobStream.messages.filter((m) => m.event.startsWith('image.'))
    expect(bobSees.map((m) => JSON.parse(m.data).data.imageId)).toEqual(
      bobSees.length === 0 ? [] : [bobs],
    )
  }, 180_000)
})
