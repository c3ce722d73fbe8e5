import { createHash } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import {
  ACCEPT_TOKENS,
  assertPurgePath,
  closedError,
  isNegotiated,
  type Purger,
} from '../purger.js'

export interface NginxPurgerOptions {
  /** proxy_cache_path's folder (deploy/nginx/pixelflow.conf's ${NGINX_CACHE_DIR}). */
  cacheDir: string
  /** proxy_cache_path's `levels=` (default '1:2'): 1 to 3 levels of 1 or 2 characters. */
  levels?: string
  logger?: Logger
}

/**
 * Deletes entries of nginx's proxy cache by computing their file names, as nginx does: the MD5
 * of the cache key, under one folder per level. The key is deploy/nginx/pixelflow.conf's
 * `proxy_cache_key $uri$is_args$args|$pf_format`: for a path without query that is `<path>|`
 * for an explicit format and `<path>|<token>` for each Accept token of a negotiated one.
 *
 * nginx keeps the key in shared memory too; with the file gone its next lookup misses and asks
 * the upstream again, so removing the file is a purge (test/integration/purge.nginx.test.ts).
 * This process must be able to unlink in the cache folder: nginx makes its level folders 0700,
 * so run it as nginx's worker user (or root). A response nginx is writing while the purge runs
 * can still land afterwards; proxy_cache_valid (10 min) bounds how long such a copy lives.
 */
export function createNginxPurger(options: NginxPurgerOptions): Purger {
  const levels = parseLevels(options.levels ?? '1:2')
  let closed = false
  return {
    driver: 'nginx',
    async purge(paths) {
      if (closed) throw closedError('nginx')
      for (const path of paths) assertPurgePath(path)
      const files = paths.flatMap((path) =>
        cacheKeys(path).map((key) => cacheFilePath(options.cacheDir, levels, key)),
      )
      const results = await Promise.allSettled(files.map((file) => unlinkIfPresent(file)))
      const removed = results.filter((r) => r.status === 'fulfilled' && r.value).length
      const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))
      options.logger?.debug({ paths: paths.length, removed }, 'nginx cache entries purged')
      if (failed.length > 0)
        throw new AggregateError(failed, `nginx purger: ${failed.length} cache file(s) not removed`)
    },
    async close() {
      closed = true
    },
  }
}

/**
 * The cache keys nginx stores `path` under. nginx keys the decoded `$uri`, so percent-encoding
 * is undone here; a path that does not decode is used as given (nginx would refuse it anyway).
 */
export function cacheKeys(path: string): string[] {
  const uri = decodePath(path)
  return isNegotiated(uri) ? ACCEPT_TOKENS.map((token) => `${uri}|${token}`) : [`${uri}|`]
}

/** '1:2' → [1, 2]; refuses what nginx would refuse (1 to 3 levels of 1 or 2 characters). */
export function parseLevels(levels: string): number[] {
  if (!/^[12](:[12]){0,2}$/.test(levels))
    throw new Error(
      `nginx purger: levels ${JSON.stringify(levels)} is not like 1:2 (1 to 3 levels of 1 or 2)`,
    )
  return levels.split(':').map(Number)
}

/**
 * Where nginx keeps the entry of `key` (ngx_create_hashed_filename): the hex MD5 of the key, under
 * the folders of hashedFolders.
 */
export function cacheFilePath(cacheDir: string, levels: readonly number[], key: string): string {
  const md5 = createHash('md5').update(key).digest('hex')
  return join(cacheDir, ...hashedFolders(md5, levels), md5)
}

/**
 * One folder per level, taken from the end of the hash, the first level the last characters:
 * with levels 1:2, b7f54b2df7773722d382f4809d65029c is in c/29/.
 */
export function hashedFolders(md5: string, levels: readonly number[]): string[] {
  const folders: string[] = []
  let end = md5.length
  for (const level of levels) {
    folders.push(md5.slice(end - level, end))
    end -= level
  }
  return folders
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}

/** True when a file was removed; a file that is not there (never cached, evicted) is fine. */
async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    await unlink(file)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    throw error
  }
}
