import type { Readable } from 'node:stream'

export interface ObjectInfo {
  key: string
  size: number
}

/** One stored object as a listing sees it: what the garbage collector needs to judge its age. */
export interface ObjectEntry {
  key: string
  size: number
  /** Last modification, epoch milliseconds (file mtime; S3 LastModified). */
  modifiedAt: number
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * The only seam between the service and blob storage. Keys are opaque, relative and
 * '/'-separated; a driver maps them to a path or an S3 key and never lets them escape its root.
 * `put` resolves only once the bytes are durable (fsynced or acknowledged by the store): the
 * upload's 202 relies on it. A failed `put` leaves no object behind.
 */
export interface ObjectStore {
  readonly driver: string
  put(key: string, body: Readable | Buffer): Promise<ObjectInfo>
  /** null when the key does not exist. */
  get(key: string, range?: ByteRange): Promise<Readable | null>
  /**
   * The whole object in memory, null when it does not exist. Optional: a store that can do it
   * cheaper than a stream (a local file: one read instead of a chunked stream, about 1.5 ms of CPU
   * for a 400 KiB original) offers it; `readObject` falls back to `get`.
   */
  read?(key: string): Promise<Buffer | null>
  /**
   * The object's file on this machine, null when it does not exist. Optional: only a local store
   * has one. libvips opens a file itself and reads it as it decodes, so a renderer never holds a
   * whole original (up to the upload limit, 20 MB and more) in memory; `decodable` falls back to
   * `read`.
   */
  localPath?(key: string): Promise<string | null>
  head(key: string): Promise<ObjectInfo | null>
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>
  list(prefix: string): Promise<string[]>
  /**
   * Every object under `prefix` (as `list` reads a prefix) with its size and age, yielded as the
   * store pages through them, so a walk of millions of keys holds one page at a time. Objects
   * still being written (a local temp file, an unfinished multipart upload) are not listed.
   */
  scan(prefix: string): AsyncIterable<ObjectEntry>
  /**
   * Marks an object as just used, for a least-recently-used budget (the derived results' on a
   * local disk: its mtime). Optional: a store without it (S3) expires objects by its own rules.
   */
  touch?(key: string): Promise<void>
  /** Throws when the store cannot be reached; used by /readyz. */
  check(): Promise<void>
}
