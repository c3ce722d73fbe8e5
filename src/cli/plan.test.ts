import { describe, expect, it } from 'vitest'
import { runCliInMemory } from '../../test/fixtures/cli-context.js'

describe('pixelflow plan', () => {
  const run = async (args: string[]) => {
    // No deps are handed over: opening the ports would throw.
    const { code, stdout, stderr, opened } = await runCliInMemory(['plan', ...args])
    expect(opened).toBe(0)
    return { code, text: stdout + stderr }
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

  it('refuses a missing or non-positive rate, naming the option', async () => {
    const missing = await run([])
    expect(missing.code).toBe(2)
    expect(missing.text).toContain("required option '--uploads-per-second <N>' not specified")
    const { code, text } = await run(['--uploads-per-second', '0'])
    expect(code).toBe(2)
    expect(text).toContain("option '--uploads-per-second <N>' argument '0' is invalid")
  })
})
