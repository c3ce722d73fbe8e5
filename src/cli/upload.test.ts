import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCliInMemory } from '../../test/fixtures/cli-context.js'
import { expandSources } from './upload.js'
import { summary } from './upload-report.js'

describe('pixelflow upload: sources, exit codes and the summary (no server)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-upload-cli-'))
    await mkdir(join(dir, 'sub'))
    for (const name of ['b.jpg', 'a.jpg', 'c.png', 'sub/d.jpg'])
      await writeFile(join(dir, name), 'x')
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('expands quoted globs in order, keeps plain paths, drops repeats, reports a glob matching nothing', async () => {
    const sources = await expandSources(
      ['*.jpg', 'a.jpg', 'missing.jpg', '**/*.jpg', 'none-*.gif'],
      dir,
    )
    expect(sources).toEqual([
      { file: 'a.jpg' },
      { file: 'b.jpg' },
      { file: 'missing.jpg' },
      { file: 'sub/d.jpg' },
      { file: 'none-*.gif', unmatched: true },
    ])
    const absolute = await expandSources([join(dir, 'sub', '*.jpg')], '/')
    expect(absolute).toEqual([{ file: join(dir, 'sub', 'd.jpg') }])
  })

  it('exits 1 with every file in the JSON report when files fail before any request', async () => {
    const run = await runCliInMemory(
      ['upload', join(dir, 'missing.jpg'), join(dir, 'none-*.gif'), join(dir, 'sub'), '--json'],
      { remote: { url: 'http://127.0.0.1:9' } },
    )
    expect(run).toMatchObject({ code: 1, opened: 0, stderr: '' })
    const report = JSON.parse(run.stdout)
    expect(report.ok).toBe(false)
    expect(report.files.map((f: { error: { code: string } }) => f.error.code)).toEqual([
      'ENOENT',
      'NO_MATCH',
      'NOT_A_FILE',
    ])
  })

  it('prints a plain line per file and the table when stdout is not a terminal', async () => {
    const run = await runCliInMemory(['upload', join(dir, 'missing.jpg')])
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/^FAILED .*missing\.jpg: ENOENT: /m)
    expect(run.stdout).toContain('0 of 1 files succeeded, 1 failed.')
  })

  it('summarises files in a table: file, id, status, size, time, error code', () => {
    const text = summary(
      [
        {
          file: 'a.jpg',
          id: 'img_1',
          status: 'ready',
          bytes: 2048,
          ms: 1500,
          ok: true,
          error: null,
        },
        {
          file: 'b.txt',
          id: null,
          status: 'error',
          bytes: 3,
          ms: 20,
          ok: false,
          error: { code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'not an image' },
        },
      ],
      false,
    )
    expect(text).toMatch(/file +│ id +│ status +│ size +│ time +│ error/)
    expect(text).toMatch(/a\.jpg +│ img_1 +│ ready +│ 2\.0 KB +│ 1\.5 s +│/)
    expect(text).toMatch(/b\.txt +│ - +│ error +│ 3 B +│ 0\.0 s +│ UNSUPPORTED_MEDIA_TYPE/)
    expect(text).toContain('1 of 2 files succeeded, 1 failed.')
    expect(text).not.toContain('\u001b[') // no colour codes off a terminal
  })
})
