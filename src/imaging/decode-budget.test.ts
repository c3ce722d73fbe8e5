import sharp, { type Sharp } from 'sharp'
import { describe, expect, it } from 'vitest'
import { createDecodeBudget, wholeImageBytes } from './decode-budget.js'

const MB = 1024 * 1024

function photo(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: '#4080c0' } })
}
const metaOf = async (image: Sharp) => sharp(await image.toBuffer()).metadata()

/** A decode that runs until `finish()` is called, recording when it started. */
function held(log: string[], name: string) {
  let finish!: () => void
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  return {
    decode: async () => {
      log.push(`start ${name}`)
      await done
      log.push(`end ${name}`)
      return name
    },
    finish,
  }
}
const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('wholeImageBytes', () => {
  it('counts a progressive JPEG’s coefficients, 2 bytes each, per component at its resolution', async () => {
    const progressive = (chromaSubsampling: string) =>
      metaOf(photo(800, 600).jpeg({ progressive: true, chromaSubsampling }))
    expect(wholeImageBytes(await progressive('4:4:4'))).toBe(800 * 600 * 2 * 3)
    expect(wholeImageBytes(await progressive('4:2:0'))).toBe(800 * 600 * 2 * 1.5)
  })

  it('counts an interlaced PNG whole, and nothing for sources that stream', async () => {
    expect(wholeImageBytes(await metaOf(photo(800, 600).png({ progressive: true })))).toBe(
      800 * 600 * 3,
    )
    expect(wholeImageBytes(await metaOf(photo(800, 600).jpeg()))).toBe(0)
    expect(wholeImageBytes(await metaOf(photo(800, 600).png()))).toBe(0)
    expect(wholeImageBytes(await metaOf(photo(800, 600).webp()))).toBe(0)
  })
})

describe('createDecodeBudget', () => {
  it('runs decodes side by side while their sum fits, and one after another when it does not', async () => {
    const budget = createDecodeBudget(100)
    const log: string[] = []
    const [a, b, c] = [held(log, 'a'), held(log, 'b'), held(log, 'c')]
    const running = [
      budget(40 * MB, a.decode),
      budget(50 * MB, b.decode),
      budget(20 * MB, c.decode),
    ]
    await turn()
    expect(log).toEqual(['start a', 'start b'])
    a.finish()
    await turn()
    expect(log).toEqual(['start a', 'start b', 'end a', 'start c'])
    b.finish()
    c.finish()
    expect(await Promise.all(running)).toEqual(['a', 'b', 'c'])
  })

  it('runs a decode larger than the whole budget once it is alone, and lets streaming ones pass', async () => {
    const budget = createDecodeBudget(100)
    const log: string[] = []
    const [small, huge, streaming] = [held(log, 'small'), held(log, 'huge'), held(log, 'streaming')]
    const running = [
      budget(10 * MB, small.decode),
      budget(500 * MB, huge.decode),
      budget(0, streaming.decode),
    ]
    await turn()
    expect([...log].sort()).toEqual(['start small', 'start streaming'])
    small.finish()
    await turn()
    expect(log).toContain('start huge')
    huge.finish()
    streaming.finish()
    await Promise.all(running)
  })

  it('gives the room back when a decode fails', async () => {
    const budget = createDecodeBudget(100)
    await expect(
      budget(80 * MB, async () => {
        throw new Error('broken source')
      }),
    ).rejects.toThrow('broken source')
    expect(await budget(80 * MB, async () => 'next')).toBe('next')
  })
})
