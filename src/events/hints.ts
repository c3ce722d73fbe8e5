import { bucketOfId } from '../domain/ids.js'
import type { BucketStore, ShardedMetadata } from '../metadata/sharded-metadata.js'

/**
 * The metadata layer with a wake-up hint after every change that wrote an event: completions,
 * failures and deletes, by whoever made them (worker, API, reconciler, erasure). The hint follows
 * the commit (the store's methods resolve after it), so a stream it wakes finds the event.
 * Wired by src/start, so the worker and the API never import events/.
 */
export function withEventHints(
  metadata: ShardedMetadata,
  publish: (bucket: number) => void,
): ShardedMetadata {
  function hinting(bucket: number, store: BucketStore): BucketStore {
    const after =
      <A extends unknown[], R>(method: (...args: A) => Promise<R>, changed: (r: R) => boolean) =>
      async (...args: A): Promise<R> => {
        const result = await method(...args)
        if (changed(result)) publish(bucket)
        return result
      }
    return {
      ...store,
      completeImage: after(store.completeImage, Boolean),
      failImage: after(store.failImage, Boolean),
      failStuck: after(store.failStuck, Boolean),
      deleteImage: after(store.deleteImage, (image) => image !== null),
    }
  }
  return {
    ...metadata,
    forBucket: (bucket) => hinting(bucket, metadata.forBucket(bucket)),
    forOwner: (ownerId) => hinting(metadata.bucketOfOwner(ownerId), metadata.forOwner(ownerId)),
    forImageId(id) {
      const store = metadata.forImageId(id)
      const bucket = bucketOfId(id)
      return store && bucket !== null ? hinting(bucket, store) : store
    },
  }
}
