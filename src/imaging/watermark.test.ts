import { describe, expect, it } from 'vitest'
import { createWatermarker } from './watermark.js'

const CONFIG = {
  text: '© Pixelflow',
  position: 'southeast',
  opacity: 0.5,
  minWidth: 400,
} as const

describe('createWatermarker', () => {
  it('marks nothing without a watermark configured', async () => {
    expect(await createWatermarker(undefined)(2_000)).toBeNull()
  })

  it('skips variants narrower than minWidth and marks those at or above it', async () => {
    const mark = createWatermarker(CONFIG)
    expect(await mark(399)).toBeNull()
    expect(await mark(400)).toMatchObject({
      raw: { width: 100, channels: 4 },
      gravity: 'southeast',
    })
  })

  it("follows a preset's own setting: off never, on always, a position always and there", async () => {
    const mark = createWatermarker(CONFIG)
    expect(await mark(2_000, 'off')).toBeNull()
    expect(await mark(100, 'on')).toMatchObject({ gravity: 'southeast' })
    expect(await mark(100, 'northwest')).toMatchObject({ gravity: 'northwest' })
    expect(await createWatermarker(undefined)(2_000, 'on')).toBeNull()
  })

  it('sizes the mark to a quarter of the variant width', async () => {
    const mark = createWatermarker({ ...CONFIG, minWidth: 1 })
    expect((await mark(1_000))!.raw.width).toBe(250)
    // Never thinner than 16 px, however narrow the variant.
    expect((await mark(20))!.raw.width).toBe(16)
  })

  it('scales the mark’s alpha by the opacity', async () => {
    const opaque = (await createWatermarker({ ...CONFIG, opacity: 1 })(800))!
    const faint = (await createWatermarker({ ...CONFIG, opacity: 0.25 })(800))!
    const maxAlpha = (raw: Buffer) => Math.max(...raw.filter((_, i) => i % 4 === 3))
    expect(maxAlpha(opaque.input)).toBe(255)
    expect(maxAlpha(faint.input)).toBeLessThanOrEqual(64)
    expect(maxAlpha(faint.input)).toBeGreaterThan(0)
  })

  it('renders each width once and reuses it', async () => {
    const mark = createWatermarker(CONFIG)
    const [a, b] = await Promise.all([mark(800), mark(800)])
    expect(b).toBe(a)
    expect(await mark(900)).not.toBe(a)
  })
})
