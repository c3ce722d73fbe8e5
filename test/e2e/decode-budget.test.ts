import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { DecodeBudget } from '../../src/imaging/decode-budget.js'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { pattern } from '../fixtures/images.js'

/** Every decode budget the process makes, and the whole-image bytes each one was asked for. */
const budgets = vi.hoisted(() => [] as { megabytes: number; asked: number[] }[])

vi.mock('../../src/imaging/decode-budget.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/imaging/decode-budget.js')>()
  return {
    ...real,
    createDecodeBudget(megabytes: number): DecodeBudget {
      const budget = real.createDecodeBudget(megabytes)
      const made = { megabytes, asked: [] as number[] }
      budgets.push(made)
      return (bytes, decode) => {
        made.asked.push(bytes)
        return budget(bytes, decode)
      }
    },
  }
})

/**
 * `serve` runs the workers and on-the-fly transforms in one process: the memory a whole-image
 * decode holds is bounded per process only if both draw on one budget (src/start/pixelflow.ts).
 * A renderer left without it would silently make its own, and two progressive photos, one in each,
 * would decode at once past the bound.
 */
describe('the decode budget of the one-process service', () => {
  let h: Harness

  beforeAll(async () => {
    h = await startHarness({ PIXELFLOW_UNSIGNED_PRESETS: 'thumb', PIXELFLOW_PRESETS: 'thumb:160' })
  })
  afterAll(() => h.close())

  it('is one budget, drawn on by the worker and by a transform', async () => {
    // Progressive: the kind a decoder holds whole, so both paths ask the budget for its bytes.
    const jpeg = await (await pattern(1200, 800)).jpeg({ progressive: true }).toBuffer()
    const id = (await h.upload(jpeg, 'image/jpeg')).json().id
    expect((await h.waitSettled(id)).status).toBe('ready')
    const bounded = budgets.filter((b) => b.megabytes > 0)
    expect(bounded).toHaveLength(1)
    const afterWorker = bounded[0]!.asked.filter((bytes) => bytes > 0).length
    expect(afterWorker).toBeGreaterThan(0)

    const res = await h.pf.app.inject({ url: `/t/_/p:thumb/${id}.webp` })
    expect(res.statusCode).toBe(200)
    expect((await sharp(res.rawPayload).metadata()).width).toBe(160)
    expect(bounded[0]!.asked.filter((bytes) => bytes > 0).length).toBeGreaterThan(afterWorker)
    expect(budgets.filter((b) => b.megabytes > 0)).toHaveLength(1) // the transform made none
  })
})
