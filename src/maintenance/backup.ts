import { createReadStream, createWriteStream } from 'node:fs'
import { access, chmod, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Config } from '../config/schema.js'
import { assertObjectKey } from '../storage/object-key.js'
import type { ObjectStore } from '../storage/object-store.js'

/**
 * A backup of an embedded install (SQLite metadata, any object store) as a folder laid out like
 * a data dir: `control.db`, `shards/shard-<id>.db`, `queue.db` (SQLite queue only), `objects/…`,
 * and `manifest.json`. docs/operations.md says why the metadata is copied before the objects and
 * how to back up PostgreSQL.
 */
export interface BackupManifest {
  format: 1
  createdAt: number
  /** Registered shard id → its file in the backup. */
  shards: Record<string, string>
  queue: string | null
  objects: number
  objectBytes: number
}

const DIR_MODE = 0o700
const FILE_MODE = 0o600

export interface BackupSource {
  config: Config
  store: ObjectStore
  /** The shard registry as the control database holds it (id → SQLite path or postgres:// URL). */
  shards: ReadonlyMap<number, string>
  /** Bucket moves not yet done or failed: a backup during a move could pair a directory with shards that disagree. */
  movesInProgress: number
}

const isPostgres = (url: string) => /^postgres(ql)?:\/\//.test(url)

/**
 * Copies a running embedded install into `dir` (which must not exist or be empty): the SQLite
 * files first, each through SQLite's online backup API (a consistent snapshot while writers
 * carry on), then every object through the store port. Metadata first: every row in the snapshot
 * had its objects stored before it committed, so the later object copy holds them; objects that
 * arrive after the snapshot are orphans the garbage collector removes after a restore.
 */
export async function createBackup(source: BackupSource, dir: string): Promise<BackupManifest> {
  const { config } = source
  const postgres = [config.metadata.control, ...source.shards.values()].filter(isPostgres)
  if (postgres.length > 0)
    throw new Error(
      `pixelflow backup copies SQLite metadata only; ${postgres.length} database(s) are PostgreSQL: back them up with pg_dump or your provider's snapshots (docs/operations.md)`,
    )
  if (source.movesInProgress > 0)
    throw new Error(
      `${source.movesInProgress} bucket move(s) are in progress: finish them (pixelflow shards rebalance) before a backup`,
    )
  await mkdir(dir, { recursive: true, mode: DIR_MODE })
  if ((await readdir(dir)).length > 0) throw new Error(`The backup folder ${dir} is not empty`)

  const { default: Database } = await import('better-sqlite3')
  async function snapshot(from: string, to: string) {
    await mkdir(dirname(to), { recursive: true, mode: DIR_MODE })
    const db = new Database(from, { readonly: true, fileMustExist: true })
    try {
      await db.backup(to)
    } finally {
      db.close()
    }
    await chmod(to, FILE_MODE)
  }

  // The control database (directory, keys) first, then every shard, then the queue.
  await snapshot(config.metadata.control, join(dir, 'control.db'))
  const shards: Record<string, string> = {}
  for (const [id, path] of source.shards) {
    const file = `shards/shard-${id}.db`
    await snapshot(path, join(dir, file))
    shards[String(id)] = file
  }
  let queue: string | null = null
  if (config.queue.driver === 'sqlite') {
    await snapshot(config.queue.path, join(dir, 'queue.db'))
    queue = 'queue.db'
  }

  let objects = 0
  let objectBytes = 0
  for await (const entry of source.store.scan('')) {
    const body = await source.store.get(entry.key)
    if (!body) continue // deleted since the listing: a delete that happened after the snapshot
    const path = join(dir, 'objects', assertObjectKey(entry.key))
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
    await pipeline(body, createWriteStream(path, { mode: FILE_MODE }))
    objects++
    objectBytes += entry.size
  }

  const manifest: BackupManifest = {
    format: 1,
    createdAt: Date.now(),
    shards,
    queue,
    objects,
    objectBytes,
  }
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, {
    mode: FILE_MODE,
  })
  return manifest
}

/**
 * Restores a backup into the configured locations of a stopped install with no data yet:
 * the SQLite files, then the objects (through the store port, so a local backup can be restored
 * into S3), then the shard registry rewritten to the configured paths (it names files by absolute
 * path). Refuses to overwrite anything.
 */
export async function restoreBackup(
  dir: string,
  config: Config,
  store: ObjectStore,
): Promise<BackupManifest> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as BackupManifest
  if (manifest.format !== 1) throw new Error(`Unknown backup format ${manifest.format}`)
  if (isPostgres(config.metadata.control))
    throw new Error('PIXELFLOW_CONTROL_DB is PostgreSQL: restore it with pg_restore instead')
  const targets: [string, string][] = [[join(dir, 'control.db'), config.metadata.control]]
  const registry = new Map<number, string>()
  for (const [id, file] of Object.entries(manifest.shards)) {
    const path = config.metadata.shards[Number(id)]
    if (path === undefined || isPostgres(path))
      throw new Error(
        `The backup has shard ${id}; configure PIXELFLOW_SHARDS with a SQLite path for it`,
      )
    targets.push([join(dir, file), path])
    registry.set(Number(id), path)
  }
  if (manifest.queue && config.queue.driver === 'sqlite')
    targets.push([join(dir, manifest.queue), config.queue.path])
  for (const [, to] of targets) {
    if (await exists(to)) throw new Error(`${to} exists: restore only into an empty install`)
  }
  if ((await store.list('')).length > 0) throw new Error('The object store is not empty')
  for (const [from, to] of targets) {
    await mkdir(dirname(to), { recursive: true, mode: DIR_MODE })
    await copyFile(from, to)
    await chmod(to, FILE_MODE)
  }
  const objectsDir = join(dir, 'objects')
  const files = (await exists(objectsDir))
    ? await readdir(objectsDir, { recursive: true, withFileTypes: true })
    : []
  for (const file of files) {
    if (!file.isFile()) continue
    const path = join(file.parentPath, file.name)
    const key = path
      .slice(objectsDir.length + 1)
      .split('\\')
      .join('/')
    await store.put(key, createReadStream(path))
  }
  const { default: Database } = await import('better-sqlite3')
  const control = new Database(config.metadata.control)
  try {
    const update = control.prepare('update shards set url = ? where id = ?')
    for (const [id, path] of registry) update.run(path, id)
  } finally {
    control.close()
  }
  return manifest
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
