import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { runCliInMemory } from '../../test/fixtures/cli-context.js'
import type { ApiKeys } from '../auth/api-keys.js'
import { createScope } from './command.js'
import { buildProgram } from './main.js'

/** Every command path of the program: ['keys'], ['keys', 'create'], … */
function commandPaths(): string[][] {
  const ctx = { io: { out() {}, err() {}, isTTY: false }, remote: {} } as never
  const walk = (command: Command, prefix: string[]): string[][] =>
    command.commands.flatMap((sub) => [
      [...prefix, sub.name()],
      ...walk(sub, [...prefix, sub.name()]),
    ])
  return walk(buildProgram(createScope(ctx, { code: 0 })), []).filter((p) => p.at(-1) !== 'help')
}

describe('pixelflow: help and usage errors (commander), opening nothing', () => {
  it('every command and subcommand answers --help with exit 0, starting and opening nothing', async () => {
    const paths = commandPaths()
    // The operator commands, the roles and the user commands are all there.
    for (const expected of [
      'serve',
      'api',
      'worker',
      'relay',
      'keys rotate',
      'shards add',
      'upload',
      'images url',
    ])
      expect(paths.map((p) => p.join(' '))).toContain(expected)
    expect(paths.length).toBeGreaterThan(25)
    for (const path of paths) {
      const run = await runCliInMemory([...path, '--help'])
      expect(run, path.join(' ')).toMatchObject({ code: 0, opened: 0, started: [], stderr: '' })
      expect(run.stdout).toContain(`Usage: pixelflow ${path.join(' ')}`)
    }
  })

  it('with no command prints the help on stderr and exits 2 instead of starting a server', async () => {
    const run = await runCliInMemory([])
    expect(run).toMatchObject({ code: 2, opened: 0, started: [], stdout: '' })
    expect(run.stderr).toContain('Usage: pixelflow [options] [command]')
    for (const command of ['serve', 'upload', 'images', 'keys', 'shards', 'plan'])
      expect(run.stderr).toMatch(new RegExp(`^ {2}${command}\\b`, 'm'))
    expect((await runCliInMemory(['--help'])).code).toBe(0)
    expect((await runCliInMemory(['help', 'keys'])).stdout).toContain('Usage: pixelflow keys')
  })

  it('suggests the command meant, names a missing option or argument, exits 2', async () => {
    const cases: [string[], string][] = [
      [['uplod', 'a.jpg'], "unknown command 'uplod'\n(Did you mean upload?)"],
      [['keys', 'craete'], '(Did you mean create?)'],
      [['keys', 'create'], "required option '--owner <id>' not specified"],
      [['keys', 'revoke'], "missing required argument 'key-id'"],
      [['shards', 'move', '--owner', 'alice'], "required option '--to <shard>' not specified"],
      [['shards', 'add'], "missing required argument 'url'"],
      [['upload'], "missing required argument 'files'"],
      [['images', 'get'], "missing required argument 'id'"],
      [['owners', 'erase'], "missing required argument 'owner-id' (or --unfinished)"],
      [['api', '--port', '80'], "unknown option '--port'"],
      [['worker', 'extra'], 'too many arguments'],
      [['backup', 'a', 'b'], 'too many arguments'],
      [['images', 'list', '--url', 'localhost:8080'], 'expected an http:// or https:// URL'],
      [
        ['upload', 'a.jpg', '--concurrency', '0'],
        "option '--concurrency <n>' argument '0' is invalid",
      ],
      [['keys', 'rotate', 'AbCdEfGhIjKl', '--grace-seconds', '1w'], '--grace-seconds'],
      [['gc', '--older-than', '1m'], 'must be at least 600s'],
      [
        ['keys', 'create', '--owner', 'a', '--scopes', 'root'],
        'unknown scopes (known: images:read',
      ],
    ]
    for (const [argv, message] of cases) {
      const run = await runCliInMemory(argv)
      expect(run, argv.join(' ')).toMatchObject({ code: 2, opened: 0, started: [] })
      expect(run.stderr, argv.join(' ')).toContain(message)
    }
  })

  it('starts a role only when asked, keeping the process running (-1)', async () => {
    expect(await runCliInMemory(['worker'])).toMatchObject({ code: -1, started: ['worker'] })
  })

  it("takes a key id that begins with '-' (1 in 64 did) as the key, not as an option", async () => {
    const calls: unknown[][] = []
    const apiKeys = {
      rotate: async (...args: unknown[]) => {
        calls.push(['rotate', ...args])
        return { key: 'pf_fresh_secret' }
      },
      revoke: async (...args: unknown[]) => {
        calls.push(['revoke', ...args])
        return true
      },
    } as unknown as ApiKeys
    const rotated = await runCliInMemory(
      ['keys', 'rotate', '-AbCdEfGhIjK', '--grace-seconds', '1h'],
      {
        deps: { apiKeys },
      },
    )
    expect(rotated).toMatchObject({ code: 0, stdout: 'pf_fresh_secret\n' })
    const before = await runCliInMemory(
      ['keys', 'rotate', '--grace-seconds', '2h', '-_bCdEfGhIjK'],
      {
        deps: { apiKeys },
      },
    )
    expect(before.code).toBe(0)
    expect(
      (await runCliInMemory(['keys', 'revoke', '-AbCdEfGhIjK'], { deps: { apiKeys } })).stdout,
    ).toBe('Revoked -AbCdEfGhIjK\n')
    expect(calls).toEqual([
      ['rotate', '-AbCdEfGhIjK', 3_600_000],
      ['rotate', '-_bCdEfGhIjK', 7_200_000],
      ['revoke', '-AbCdEfGhIjK'],
    ])
    // Any other unknown option is still refused.
    expect((await runCliInMemory(['keys', 'revoke', '-x'], { deps: { apiKeys } })).code).toBe(2)
  })
})
