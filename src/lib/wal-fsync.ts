import { open } from 'node:fs/promises'

/**
 * The fsync that makes SQLite WAL commits durable, made on libuv's thread pool instead of the
 * event loop. A commit made with synchronous=NORMAL has written its frames to the `-wal` file
 * without syncing them; one fsync of that file afterwards makes every commit written before it
 * durable, as synchronous=FULL would have at each commit, while the loop goes on serving
 * requests. (fsync flushes the file, whichever descriptor asks, so a descriptor of our own works.)
 *
 * Calls share fsyncs: one in flight may have started before the caller's commit wrote its
 * frames, so callers that come meanwhile wait for the one after it, which they all share.
 *
 * A failed fsync fails every call after it too, until the process restarts: Linux may mark the
 * pages it could not write clean, so a later fsync would succeed without them, and SQLite's WAL
 * recovery stops at the first frame that is missing, losing every later commit as well. Refusing
 * to promise anything more is what PostgreSQL does (it panics). The batch whose fsync failed
 * stays committed and readable; its callers were told it failed.
 */
export function walFsync(
  databaseFile: string,
  syncFile: (path: string) => Promise<void> = fsyncIfPresent,
): () => Promise<void> {
  const wal = `${databaseFile}-wal`
  let running: Promise<void> | null = null
  let next: Promise<void> | null = null
  let broken: unknown = null

  function start(): Promise<void> {
    if (broken) return Promise.reject(broken)
    const sync = syncFile(wal)
      .catch((error: unknown) => {
        broken = error
        throw error
      })
      .finally(() => {
        if (running === sync) running = null
      })
    running = sync
    return sync
  }

  return () => {
    if (broken) return Promise.reject(broken)
    if (!running) return start()
    if (!next) {
      const after = running.catch(() => {})
      next = after.then(() => {
        next = null
        return start()
      })
    }
    return next
  }
}

async function fsyncIfPresent(path: string): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    // No WAL file: a checkpoint moved every frame into the database and synced it.
    if (error.code === 'ENOENT') return null
    throw error
  })
  if (!handle) return
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
