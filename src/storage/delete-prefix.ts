import type { ObjectStore } from './object-store.js'

/** Deletes every object under a prefix (all of one image's objects, say). Idempotent. */
export async function deletePrefix(store: ObjectStore, prefix: string): Promise<void> {
  const keys = await store.list(prefix)
  await Promise.all(keys.map((key) => store.delete(key)))
}
