import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { describePurger } from '../../../test/contracts/purger.contract.js'
import { cacheFilePath, cacheKeys, createNginxPurger, hashedFolders, parseLevels } from './nginx.js'

/** MD5s computed outside Node (`printf '%s' KEY | md5sum`). */
const EXPLICIT = { key: '/i/abc/thumb.webp|', md5: '95d23f1da46011d461151d0ac867682a' }
const NEGOTIATED = {
  avif: '374ef8d342beeb4b0675e7b8c1b4fd80',
  webp: '97c36227ff1f161f8e403e4f896b0188',
  jpeg: '8e73215e0bab5fd23d5d996f374d0172',
}

describe('nginx cache file names', () => {
  it('keys an explicit path once, with an empty token', () => {
    expect(cacheKeys('/i/abc/thumb.webp')).toEqual(['/i/abc/thumb.webp|'])
    expect(cacheKeys('/t/s1g/w:100/abc.png')).toEqual(['/t/s1g/w:100/abc.png|'])
  })

  it('keys a negotiated path (no . in its last segment) once per Accept token', () => {
    expect(cacheKeys('/i/abc/thumb')).toEqual([
      '/i/abc/thumb|avif',
      '/i/abc/thumb|webp',
      '/i/abc/thumb|jpeg',
    ])
    // A '.' before the last segment does not make it explicit.
    expect(cacheKeys('/t/s1g/dpr:1.5/abc')).toHaveLength(3)
  })

  it('keys the decoded path, as nginx keys $uri', () => {
    expect(cacheKeys('/t/s1g/w:100%2Cf:auto/abc')).toEqual(cacheKeys('/t/s1g/w:100,f:auto/abc'))
    expect(cacheKeys('/i/abc/%E2%82%AC.webp')).toEqual(['/i/abc/€.webp|'])
  })

  it('puts levels 1:2 as <last char>/<2 chars before it>/<md5>', () => {
    expect(cacheFilePath('/c', [1, 2], EXPLICIT.key)).toBe(`/c/a/82/${EXPLICIT.md5}`)
    // The example of proxy_cache_path's documentation: /data/nginx/cache/c/29/b7f54b2d…029c.
    expect(hashedFolders('b7f54b2df7773722d382f4809d65029c', [1, 2])).toEqual(['c', '29'])
  })

  it('puts levels 2 and 1:1:2 as nginx does', () => {
    expect(cacheFilePath('/c', [2], EXPLICIT.key)).toBe(`/c/2a/${EXPLICIT.md5}`)
    expect(cacheFilePath('/c', [1, 1, 2], EXPLICIT.key)).toBe(`/c/a/2/68/${EXPLICIT.md5}`)
    expect(cacheFilePath('/c', [2, 2, 2], EXPLICIT.key)).toBe(`/c/2a/68/67/${EXPLICIT.md5}`)
  })

  it('names the three files of a negotiated path', () => {
    const files = cacheKeys('/i/abc/thumb').map((key) => cacheFilePath('/c', [1, 2], key))
    expect(files).toEqual([
      `/c/0/d8/${NEGOTIATED.avif}`,
      `/c/8/18/${NEGOTIATED.webp}`,
      `/c/2/17/${NEGOTIATED.jpeg}`,
    ])
  })

  it('accepts the levels nginx accepts and refuses the rest', () => {
    expect(parseLevels('1:2')).toEqual([1, 2])
    expect(parseLevels('2')).toEqual([2])
    expect(parseLevels('1:1:2')).toEqual([1, 1, 2])
    for (const bad of ['', '3', '1:2:2:1', '1:', 'a'])
      expect(() => parseLevels(bad), bad).toThrow(/levels/)
  })
})

describe('nginx purger', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  })
  async function cacheDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'pixelflow-purge-'))
    dirs.push(dir)
    return dir
  }

  for (const levels of ['1:2', '2', '1:1:2']) {
    it(`removes the files of an explicit and a negotiated path (levels ${levels})`, async () => {
      const dir = await cacheDir()
      const numbers = parseLevels(levels)
      const files = [...cacheKeys('/i/abc/thumb.webp'), ...cacheKeys('/i/abc/thumb')].map((key) =>
        cacheFilePath(dir, numbers, key),
      )
      const other = cacheFilePath(dir, numbers, '/i/abc/thumb.avif|')
      for (const file of [...files, other]) {
        await mkdir(dirname(file), { recursive: true })
        await writeFile(file, 'cached')
      }
      const purger = createNginxPurger({ cacheDir: dir, levels })
      await purger.purge(['/i/abc/thumb.webp', '/i/abc/thumb'])
      for (const file of files) expect(existsSync(file), file).toBe(false)
      expect(existsSync(other)).toBe(true)
      await purger.close()
    })
  }

  it('reports a file it could not remove', async () => {
    const dir = await cacheDir()
    // A folder where the entry's file should be: unlink fails with EISDIR/EPERM, not ENOENT.
    await mkdir(cacheFilePath(dir, [1, 2], EXPLICIT.key), { recursive: true })
    const purger = createNginxPurger({ cacheDir: dir })
    await expect(purger.purge(['/i/abc/thumb.webp', '/i/never/cached.webp'])).rejects.toThrow(
      /1 cache file\(s\) not removed/,
    )
  })

  // One folder per contract test: open() makes it, seed and purged look in it.
  let contractDir = ''
  const files = (path: string) =>
    cacheKeys(path).map((key) => cacheFilePath(contractDir, [1, 2], key))
  describePurger('nginx', {
    async open() {
      contractDir = await cacheDir()
      return createNginxPurger({ cacheDir: contractDir, levels: '1:2' })
    },
    async seed(path) {
      for (const file of files(path)) {
        await mkdir(dirname(file), { recursive: true })
        await writeFile(file, 'cached')
      }
    },
    async purged(path) {
      return files(path).every((file) => !existsSync(file))
    },
  })
})
