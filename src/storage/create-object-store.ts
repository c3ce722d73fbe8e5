import type { StorageConfig } from '../config/schema.js'
import { createLocalDiskStore } from './drivers/local-disk.js'
import type { ObjectStore } from './object-store.js'

export function createObjectStore(config: StorageConfig): ObjectStore {
  switch (config.driver) {
    case 'local':
      return createLocalDiskStore(config)
  }
}
