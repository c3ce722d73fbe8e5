/**
 * Single flight across processes: whoever holds a result's lock renders it while the others wait
 * for the object to appear. A lock expires by itself after `ttlMs`, so a process that dies while
 * rendering delays the others by at most that long; they never wait on it forever.
 */
export interface RenderLocks {
  readonly driver: string
  /** The release function when this caller got the lock, null when someone else holds it. */
  acquire(key: string, ttlMs: number): Promise<(() => Promise<void>) | null>
  close(): Promise<void>
}
