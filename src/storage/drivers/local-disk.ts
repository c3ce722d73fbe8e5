import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { assertObjectKey } from '../object-key.js'
import type { ByteRange, ObjectStore } from '../object-store.js'
import { storageUnavailable } from '../unavailable.js'
import { BatchedFileWriter } from './batched-file.js'
import { syncDirectory } from './sync-directory.js'

export interface LocalDiskOptions {
  root: string
}

/**
 * Originals of private images live here: folders and files are the owner's alone (0700/0600),
 * set explicitly so that a umask of 022 cannot make them readable by every local user.
 */
const DIR_MODE = 0o700
const FILE_MODE = 0o600

/** Objects as files under `root`. Writes go to a temp file that is fsynced, then renamed. */
export function createLocalDiskStore(options: LocalDiskOptions): ObjectStore {
  const root = resolve(options.root)
  const pathOf = (key: string) => pathInside(root, key)

  return translateIoErrors({
    driver: 'local',
    async put(key, body) {
      const path = pathOf(key)
      const created = await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
      const size = await writeDurably(path, body).catch(async (error: unknown) => {
        // A failed put leaves nothing, not even the folder it made (a refused or aborted upload).
        await removeEmptyFolders(root, dirname(path))
        throw error
      })
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
    async read(key) {
      return readFile(pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        // A folder at the key is no object, as for get.
        if (error.code === 'ENOENT' || error.code === 'EISDIR') return null
        throw error
      })
    },
    async localPath(key) {
      const path = pathOf(key)
      const info = await stat(path).catch(ifNotFound(null))
      return info?.isFile() ? path : null
    },
    async head(key) {
      const info = await stat(pathOf(key)).catch(ifNotFound(null))
      return info?.isFile() ? { key, size: info.size } : null
    },
    async delete(key) {
      const path = pathOf(key)
      await rm(path, { force: true })
      await removeEmptyFolders(root, dirname(path))
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
    async *scan(prefix) {
      const trimmed = prefix.replace(/\/+$/, '')
      const dir = trimmed === '' ? root : pathOf(trimmed)
      const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
        ifNotFound([]),
      )
      const keys = entries
        .filter((entry) => entry.isFile() && !entry.name.includes('.tmp-'))
        .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
        .sort()
      for (const key of keys) {
        // Deleted between the listing and now: gone is not an entry.
        const info = await stat(pathOf(key)).catch(ifNotFound(null))
        if (info?.isFile()) yield { key, size: info.size, modifiedAt: info.mtimeMs }
      }
    },
    async touch(key) {
      // The mtime is what scan() reports as modifiedAt, so what the budget sweep orders by.
      // Gone already (deleted, or swept, since it was served) is not an error: nothing to keep.
      const now = new Date()
      await utimes(pathOf(key), now, now).catch(ifNotFound(undefined))
    },
    async check() {
      await mkdir(root, { recursive: true, mode: DIR_MODE })
      await stat(root)
    },
  })
}

/** Streams into a temp file beside the target, fsyncs it, renames it over, fsyncs the folder. */
async function writeDurably(path: string, body: Readable | Buffer): Promise<number> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`
  try {
    // Both fsync the file before it is renamed, so the renamed file is on disk, not in the page
    // cache. A Buffer (a variant, a derived result) is written in one call: a stream costs about
    // 1 ms of CPU more for each.
    let size: number
    if (Buffer.isBuffer(body)) {
      await writeFile(tmp, body, { flag: 'wx', flush: true, mode: FILE_MODE })
      size = body.length
    } else {
      size = await writeStream(tmp, body)
    }
    await rename(tmp, path)
    await syncDirectory(dirname(path))
    return size
  } catch (error) {
    await rm(tmp, { force: true })
    throw error
  }
}

/** A stream into a new file in batches (batched-file.ts), fsynced; its size. */
async function writeStream(path: string, body: Readable): Promise<number> {
  const sink = new BatchedFileWriter(path, FILE_MODE)
  await pipeline(body, sink)
  return sink.bytesWritten
}

/**
 * Removes `dir` and its parents up to (not including) the root while they are empty, so deleted
 * and refused images leave no `images/<id>/` folders behind. A folder that is not empty (or is
 * gone already) ends the walk.
 */
async function removeEmptyFolders(root: string, dir: string): Promise<void> {
  for (let current = dir; current.startsWith(root + sep); current = dirname(current)) {
    try {
      await rmdir(current)
    } catch {
      return
    }
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

/**
 * Failures of the disk itself, not of a request: full, read-only, gone (a lost NFS mount), I/O
 * errors, out of descriptors, permissions changed under us. A client's aborted body (ECONNRESET,
 * premature close) and our own refusals (AppError) are not among them.
 */
const IO_FAILURES = new Set([
  'EIO',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'ENOTCONN',
  'ESTALE',
  'ETIMEDOUT',
  'EBUSY',
  'EAGAIN',
  'ENOTDIR',
  'EEXIST',
  'ENXIO',
  'ENODEV',
])

/** An I/O failure of the disk becomes STORAGE_UNAVAILABLE (503, Retry-After); anything else is kept. */
export function diskError(operation: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && IO_FAILURES.has(code)
    ? storageUnavailable(operation, error)
    : error
}

/** Translates disk failures at the port's boundary; check() stays raw: /readyz only needs to fail. */
function translateIoErrors(store: ObjectStore): ObjectStore {
  const guard =
    <A extends unknown[], R>(operation: string, run: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await run(...args)
      } catch (error) {
        throw diskError(operation, error)
      }
    }
  return {
    ...store,
    put: guard('put', store.put),
    get: guard('get', store.get),
    ...(store.read && { read: guard('read', store.read) }),
    ...(store.localPath && { localPath: guard('localPath', store.localPath) }),
    head: guard('head', store.head),
    delete: guard('delete', store.delete),
    list: guard('list', store.list),
    ...(store.touch && { touch: guard('touch', store.touch) }),
    async *scan(prefix) {
      try {
        yield* store.scan(prefix)
      } catch (error) {
        throw diskError('scan', error)
      }
    },
  }
}
