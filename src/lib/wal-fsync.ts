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
 */
export function walFsync(
  databaseFile: string,
  syncFile: (path: string) => Promise<void> = fsyncIfPresent,
): () => Promise<void> {
  const wal = `${databaseFile}-wal`
  let running: Promise<void> | null = null
  let next: Promise<void> | null = null

  function start(): Promise<void> {
    const sync = syncFile(wal).finally(() => {
      if (running === sync) running = null
    })
    running = sync
    return sync
  }

  return () => {
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
