import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli } from './main.js'

describe('pixelflow plan', () => {
  afterEach(() => vi.restoreAllMocks())

  const run = async (args: string[]) => {
    const out: string[] = []
    const write = (chunk: string | Uint8Array) => out.push(String(chunk)) > 0
    vi.spyOn(process.stdout, 'write').mockImplementation(write)
    vi.spyOn(process.stderr, 'write').mockImplementation(write)
    const open = vi.fn(async () => {
      throw new Error('plan must not open the ports')
    })
    const code = await runCli('plan', args, open)
    expect(open).not.toHaveBeenCalled()
    return { code, text: out.join('') }
  }

  it('prints the plan and the measured figures it comes from, opening nothing', async () => {
    const { code, text } = await run(['--uploads-per-second', '20', '--photo-mp', '4'])
    expect(code).toBe(0)
    expect(text).toMatch(/Workers +14 cores/)
    expect(text).toMatch(/API +1 process /)
    expect(text).toMatch(/sqlite +2 % busy/)
    expect(text).toMatch(/Shards +1 PostgreSQL shard,/)
    expect(text).toContain('2026-11-28, bench/RESULTS.md "Worker throughput"')
    expect(text).toContain('5.72 MP')
  })

  it('refuses a missing or non-positive rate with its usage', async () => {
    expect((await run([])).code).toBe(2)
    const { code, text } = await run(['--uploads-per-second', '0'])
    expect(code).toBe(2)
    expect(text).toContain('--uploads-per-second N')
  })
})
