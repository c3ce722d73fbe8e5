import type { StorageConfig } from '../config/schema.js'
import { createLocalDiskStore } from './drivers/local-disk.js'
import { createS3Store } from './drivers/s3.js'
import type { ObjectStore } from './object-store.js'

/** Async because the S3 driver imports the AWS SDK lazily. */
export async function createObjectStore(config: StorageConfig): Promise<ObjectStore> {
  switch (config.driver) {
    case 'local':
      return createLocalDiskStore(config)
    case 's3':
      return createS3Store(config)
  }
}
