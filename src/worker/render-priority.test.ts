import { readdirSync, readFileSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'
import sharp from 'sharp'
import { afterEach, describe, expect, it } from 'vitest'
import { lowerRenderPriority } from './render-priority.js'

const threads = () =>
  readdirSync('/proc/self/task').map((tid) => ({
    tid: Number(tid),
    name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trimEnd(),
  }))

/** A render that keeps libvips' pool busy long enough for its threads to be listed. */
const render = () =>
  sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#336699' } })
    .blur(8)
    .webp()
    .toBuffer()

const sweepsRun = () => new Promise((resolve) => setTimeout(resolve, 60))

// In this order on purpose: only root may lower a nice value again, so the test that raises it
// comes last and nothing after it in this process depends on the threads' priority.
describe.runIf(process.platform === 'linux')('lowerRenderPriority', () => {
  const sweeps: { stop(): void }[] = []
  afterEach(() => {
    for (const sweep of sweeps.splice(0)) sweep.stop()
    for (const { tid, name } of threads())
      if (name === 'libvips worker')
        try {
          setPriority(tid, 0) // root only; a niced render merely yields to other work
        } catch {}
  })

  it('does nothing at 0', async () => {
    sweeps.push(lowerRenderPriority(0, 20))
    const rendering = render()
    await sweepsRun()
    await rendering
    expect(threads().filter(({ tid }) => getPriority(tid) !== 0)).toEqual([])
  })

  it("lowers libvips' render threads and leaves every other thread alone", async () => {
    await render() // libvips starts its pool
    sweeps.push(lowerRenderPriority(10, 20))
    const rendering = render()
    await sweepsRun()
    await rendering
    const vips = threads().filter((t) => t.name === 'libvips worker')
    expect(vips.length).toBeGreaterThan(0)
    for (const { tid } of vips) expect(getPriority(tid)).toBe(10)
    expect(getPriority(process.pid)).toBe(0) // the main thread: its id is the process's
    for (const { tid, name } of threads())
      if (name !== 'libvips worker') expect(getPriority(tid), name).toBe(0)
  })
})
