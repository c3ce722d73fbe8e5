import type { QueueConfig } from '../config/schema.js'
import { createSqliteQueue } from './drivers/sqlite.js'
import type { QueueDriver } from './queue.js'

export function createQueue(config: QueueConfig): QueueDriver {
  switch (config.driver) {
    case 'sqlite':
      return createSqliteQueue(config)
  }
}
