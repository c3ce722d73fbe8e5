import type { Logger } from 'pino'
import type { ApiKeys } from '../auth/api-keys.js'
import type { LimitsConfig } from '../config/schema.js'
import type { ImageService } from '../images/image-service.js'
import type { Metrics } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'

/** What the HTTP layer needs: ports and use cases, never config files or the environment. */
export interface AppDeps {
  images: ImageService
  apiKeys: ApiKeys
  store: ObjectStore
  metrics: Metrics
  logger: Logger
  limits: LimitsConfig
  /** Base of absolute links in responses, without a trailing slash. */
  publicUrl: string
  /** Each dependency's check, for /readyz; a rejected check makes the process not ready. */
  readiness: Record<string, () => Promise<void>>
}
