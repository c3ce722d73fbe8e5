import { describe, expect, it } from 'vitest'
import { eventually } from '../fixtures/eventually.js'
import { makeJpeg } from '../fixtures/images.js'
import { cli, type ServeProcess } from '../fixtures/serve-process.js'
import { faultQueues, processScene } from './fixtures/scene.js'
import { checkLedger } from './ledger.js'

const QUEUES = faultQueues('commit window')

/**
 * The API killed after the shard committed an upload and before its 202 reached the client (a
 * hook kills it there, NODE_ENV=test only). The client saw a dropped connection: its retry with
 * the same Idempotency-Key gets the same image, and an upload without a key is still processed
 * and listed to its owner. The ledger check ends it.
 */
describe.each(QUEUES)('the commit → 202 window ($name queue)', (queue) => {
  const scene = processScene(queue, 'commit-window', {
    NODE_ENV: 'test',
    PIXELFLOW_WORKER_POLL_MS: '50',
  })
  const start = scene.start

  const post = async (api: ServeProcess, key: string, body: Buffer, headers = {}) =>
    fetch(`${api.url}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg', ...headers },
      body: new Uint8Array(body),
    })

  /** An upload into an API armed to die right after the commit: the client never hears back. */
  async function uploadIntoTheWindow(key: string, body: Buffer, headers = {}): Promise<void> {
    const api = await start('api', {
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_TEST_KILL_AFTER_UPLOAD_COMMIT: 'true',
    })
    await expect(post(api, key, body, headers)).rejects.toThrow()
    await api.exited
    expect(api.child.signalCode).toBe('SIGKILL')
    scene.forget(api)
  }

  it('a retry with the same Idempotency-Key gets the same image; a keyless orphan is processed', async () => {
    const key = cli(scene.env, 'keys', 'create', '--owner', 'ledger')
    const photo = await makeJpeg(400, 300)
    await uploadIntoTheWindow(key, photo, { 'idempotency-key': 'retry-me' })
    await uploadIntoTheWindow(key, await makeJpeg(401, 300))

    const api = await start('api', { PIXELFLOW_WORKER_ENABLED: 'false' })
    await start('worker')
    const listed = async () => {
      const page: any = await (
        await fetch(`${api.url}/v1/images?limit=100`, {
          headers: { authorization: `Bearer ${key}` },
        })
      ).json()
      return page.items as { id: string; status: string; width: number }[]
    }
    // Both commits survived the kill: the owner sees both images.
    const before = await listed()
    expect(before).toHaveLength(2)

    const retry = await post(api, key, photo, { 'idempotency-key': 'retry-me' })
    expect(retry.status).toBe(202)
    const retried = (await retry.json()) as { id: string }
    const keyed = before.find((i) => i.width === 400)
    const orphan = before.find((i) => i.width === 401)
    expect(retried.id).toBe(keyed?.id)
    expect(await listed()).toHaveLength(2) // the retry made nothing new

    await eventually(
      async () => (await listed()).every((i) => i.status === 'ready' || i.status === 'failed'),
      { timeoutMs: 60_000, intervalMs: 100, message: 'both images settled' },
    )
    const images = await checkLedger(api.url, key, [retried.id, orphan!.id], 6)
    expect(images.map((i) => i.status)).toEqual(['ready', 'ready'])
  }, 120_000)
})
