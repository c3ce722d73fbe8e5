import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../../test/fixtures/eventually.js'
import { type Harness, startHarness } from '../../test/fixtures/harness.js'
import { makeJpeg } from '../../test/fixtures/images.js'
import { doctorCommand } from './doctor.js'

let harness: Harness | null = null
afterEach(async () => {
  await harness?.close()
  harness = null
})

describe('pixelflow doctor', () => {
  it('reports a stuck image, dry or for real, as text or JSON, and exits 1 while it finds one', async () => {
    harness = await startHarness({
      PIXELFLOW_WORKER_ENABLED: 'false',
      PIXELFLOW_RECONCILE_ENABLED: 'false',
    })
    const h = harness
    const id = (await h.upload(await makeJpeg(64, 48))).json().id
    await eventually(async () => (await h.leftovers()).outbox === 0, { message: 'published' })
    const [job] = await h.pf.deps.queue.receive(1)
    await h.pf.deps.queue.ack(job!.id, job!.token) // the queue lost it
    const deps = {
      metadata: h.pf.deps.metadata,
      queue: h.pf.deps.queue,
      // Stuck as soon as it is a second old.
      reconcile: { stuckAfterMs: 1_000, maxRequeues: 1, batchSize: 10 },
      logger: pino({ level: 'silent' }),
    }
    const run = async (...args: string[]) => {
      const lines: string[] = []
      const options = { dryRun: args.includes('--dry-run'), json: args.includes('--json') }
      const code = await doctorCommand(deps, options, (line) => lines.push(line))
      return { code, text: lines.join('\n') }
    }
    await eventually(async () => (await run('--dry-run')).code === 1, {
      timeoutMs: 5_000,
      intervalMs: 200,
      message: 'the image counted as stuck',
    })
    const dry = await run('--dry-run')
    expect(dry.text).toContain('Dry run: nothing changed. 1 stuck images')
    expect(dry.text).toMatch(
      new RegExp(`stuck  ${id}  queued for \\d+ s, requeued 0×  → would-requeue`),
    )
    const json = await run('--json')
    expect(json.code).toBe(1)
    expect(JSON.parse(json.text)).toMatchObject({
      dryRun: false,
      stuck: [{ id, action: 'requeued', requeues: 0 }],
      dead: [],
      errors: [],
    })
    // Requeued just now: not stuck again until another second has passed.
    expect(await run()).toMatchObject({ code: 0 })
  })
})
