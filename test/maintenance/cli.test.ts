import { spawnSync } from 'node:child_process'
import { access, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newImageId } from '../../src/domain/ids.js'
import { objectKeys } from '../../src/domain/image.js'
import { cli } from '../fixtures/serve-process.js'

/** `pixelflow gc` and `pixelflow owners erase` through the built binary, on an embedded install. */
describe('pixelflow gc and owners', () => {
  let dir: string
  let env: Record<string, string>
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pf-maint-cli-'))
    env = { PIXELFLOW_DATA_DIR: dir }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('gc: a dry run lists the orphan, a real run deletes it, a short grace is refused', async () => {
    cli(env, 'migrate')
    const orphan = join(dir, 'objects', objectKeys.original(newImageId(5)))
    await mkdir(dirname(orphan), { recursive: true })
    await writeFile(orphan, 'bytes of a refused upload')
    const old = new Date(Date.now() - 3 * 60 * 60 * 1000)
    await utimes(orphan, old, old)

    const dry = JSON.parse(cli(env, 'gc', '--dry-run', '--json', '--older-than', '2h'))
    expect(dry).toMatchObject({ dryRun: true, orphanObjects: 1, olderThanMs: 7_200_000 })
    await access(orphan)
    const kept = JSON.parse(cli(env, 'gc', '--json', '--older-than', '4h'))
    expect(kept.orphanObjects).toBe(0)
    expect(cli(env, 'gc')).toMatch(/1 orphaned images: deleted 1 objects \(1 originals/)
    await expect(access(orphan)).rejects.toThrow()

    const short = spawnSync(process.execPath, ['dist/start/main.js', 'gc', '--older-than', '1m'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    })
    expect(short.status).toBe(2)
    expect(short.stderr).toMatch(/at least 600s/)
  })

  it('owners erase: revokes and deletes the keys, reports, and has nothing unfinished', () => {
    cli(env, 'keys', 'create', '--owner', 'erin')
    expect(cli(env, 'owners', 'erase', 'erin')).toBe(
      'Finished erasing erin: 0 images, 1 API keys revoked and deleted',
    )
    expect(JSON.parse(cli(env, 'keys', 'list', '--owner', 'erin'))).toEqual([])
    expect(JSON.parse(cli(env, 'owners', 'erase', '--unfinished'))).toEqual([])
  })
})
