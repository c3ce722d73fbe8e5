import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { assertObjectKey } from '../object-key.js'
import type { ByteRange, ObjectStore } from '../object-store.js'

export interface LocalDiskOptions {
  root: string
}

/** Objects as files under `root`. Writes go to a temp file that is fsynced, then renamed. */
export function createLocalDiskStore(options: LocalDiskOptions): ObjectStore {
  const root = resolve(options.root)
  const pathOf = (key: string) => pathInside(root, key)

  return {
    driver: 'local',
    async put(key, body) {
      const path = pathOf(key)
      const created = await mkdir(dirname(path), { recursive: true })
      const size = await writeDurably(path, body)
      // A folder made for this object is itself an entry in its parent: sync each one up to the
      // first existing folder, or a power cut could forget the folder and the file with it.
      if (created)
        for (let dir = dirname(path); dir !== dirname(created); dir = dirname(dir))
          await syncDirectory(dirname(dir))
      return { key, size }
    },
    async get(key, range) {
      const path = pathOf(key)
      const info = await stat(path).catch(ifNotFound(null))
      if (!info?.isFile()) return null
      return createReadStream(path, rangeOptions(range))
    },
    async head(key) {
      const info = await stat(pathOf(key)).catch(ifNotFound(null))
      return info?.isFile() ? { key, size: info.size } : null
    },
    async delete(key) {
      await rm(pathOf(key), { force: true })
    },
    async list(prefix) {
      const trimmed = prefix.replace(/\/+$/, '')
      const dir = trimmed === '' ? root : pathOf(trimmed)
      const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
        ifNotFound([]),
      )
      return entries
        .filter((entry) => entry.isFile() && !entry.name.includes('.tmp-'))
        .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
        .sort()
    },
    async check() {
      await mkdir(root, { recursive: true })
      await stat(root)
    },
  }
}

/** Streams into a temp file beside the target, fsyncs it, renames it over, fsyncs the folder. */
async function writeDurably(path: string, body: Readable | Buffer): Promise<number> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`
  try {
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body
    // flush: fsync before the descriptor closes, so the renamed file is on disk, not in the page cache.
    const sink = createWriteStream(tmp, { flags: 'wx', flush: true })
    await pipeline(source, sink)
    await rename(tmp, path)
    await syncDirectory(dirname(path))
    return sink.bytesWritten
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function pathInside(root: string, key: string): string {
  const path = resolve(root, assertObjectKey(key))
  if (!path.startsWith(root + sep)) throw new Error(`Object key escapes the store root: ${key}`)
  return path
}

function rangeOptions(range: ByteRange | undefined) {
  return range ? { start: range.start, end: range.end } : {}
}

function ifNotFound<T>(fallback: T) {
  return (error: NodeJS.ErrnoException): T => {
    // ENOTDIR: a path through an object, as in listing under a key that is a file.
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return fallback
    throw error
  }
}
