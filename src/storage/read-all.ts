import type { Readable } from 'node:stream'
import type { ByteRange, ObjectStore } from './object-store.js'

/** Collects a stream into one Buffer: only for objects already bounded by the upload limit. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/**
 * What libvips can decode an object from: its file when the store has one on this machine (read
 * as it decodes, never whole in memory), else its bytes. null when it does not exist.
 */
export async function decodable(
  store: Pick<ObjectStore, 'get' | 'read' | 'localPath'>,
  key: string,
): Promise<string | Buffer | null> {
  if (store.localPath) return store.localPath(key)
  return readObject(store, key)
}

/**
 * A whole object (bounded by the upload limit) in memory, or the bytes of `range` (up to the
 * object's end when it is shorter); null when it does not exist.
 */
export async function readObject(
  store: Pick<ObjectStore, 'get' | 'read'>,
  key: string,
  range?: ByteRange,
): Promise<Buffer | null> {
  if (store.read && !range) return store.read(key)
  const stream = await store.get(key, range)
  return stream && readAll(stream)
}
