import { open } from 'node:fs/promises'

interface Syncing {
  running: Promise<void>
  /** The fsync that starts when `running` ends, shared by everyone who asked in the meantime. */
  next: Promise<void> | null
}

const syncing = new Map<string, Syncing>()

/**
 * fsyncs a folder, so the entries made in it (a renamed file, a new subfolder) survive a power
 * cut. Every new image makes a folder under `images/`, and each upload asked for its own fsync of
 * `images/`; here the calls for one folder share them: a caller joins the fsync that will start
 * after the one now running (which may have begun before its change), never one already under
 * way, so what it made is always covered. An error reaches everyone who shared that fsync.
 */
export function syncDirectory(dir: string): Promise<void> {
  const current = syncing.get(dir)
  if (!current) return start(dir)
  current.next ??= current.running.then(
    () => start(dir),
    () => start(dir),
  )
  return current.next
}

function start(dir: string): Promise<void> {
  const state: Syncing = { running: fsyncFolder(dir), next: null }
  syncing.set(dir, state)
  const forget = () => {
    if (syncing.get(dir) === state && state.next === null) syncing.delete(dir)
  }
  state.running.then(forget, forget)
  return state.running
}

async function fsyncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
