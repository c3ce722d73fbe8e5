import type { Logger } from 'pino'
import type { Authenticator } from '../auth/authenticator.js'
import type { Sessions } from '../auth/sessions.js'
import type { HttpConfig, LimitsConfig } from '../config/schema.js'
import type { TransformSigner, UrlSigner } from '../domain/signed-urls.js'
import type { ImageService } from '../images/image-service.js'
import type { EraseReport } from '../maintenance/erase.js'
import type { Metrics } from '../observability/metrics.js'
import type { ObjectStore } from '../storage/object-store.js'
import type { TransformService } from '../transforms/transform-service.js'
import type { DirectUploads } from '../uploads/direct-uploads.js'
import type { TusUploads } from '../uploads/tus.js'
import type { UploadTokenService } from '../uploads/upload-token-service.js'
import type { WebhookEndpoints } from '../webhooks/endpoints.js'
import type { RateLimits } from './rate-limit.js'
import type { AdminDeps } from './routes/admin/admin-routes.js'
import type { EventRoutesOptions } from './routes/events/events.js'
import type { MetricsAccess } from './routes/health/health.js'
import type { Links } from './views.js'

/** What the HTTP layer needs: ports and use cases, never config files or the environment. */
export interface AppDeps {
  images: ImageService
  authenticate: Authenticator
  signer: UrlSigner
  store: ObjectStore
  metrics: Metrics
  logger: Logger
  limits: LimitsConfig
  http: HttpConfig
  links: Links
  rateLimits: RateLimits
  /** Each dependency's check, for /readyz; a rejected check makes the process not ready. */
  readiness: Record<string, () => Promise<void>>
  /** /metrics on the API port: openly, behind a token, or (null) not there at all. */
  metricsAccess: MetricsAccess | null
  /** Resumable (tus) and direct-to-S3 uploads and upload tokens (src/uploads), when wired. */
  uploads?: {
    tus: TusUploads
    direct: DirectUploads
    tokens: UploadTokenService
  }
  /** DELETE /v1/admin/owners/:ownerId is served when given (the maintenance use case). */
  eraseOwner?: (ownerId: string) => Promise<EraseReport>
  /** /v1/webhooks is served when given (endpoints and deliveries, per owner). */
  webhooks?: WebhookEndpoints
  /** GET /t/… (on-the-fly transforms) is served, and missing presets rendered on /i/, when given. */
  transforms?: {
    service: TransformService
    signer: TransformSigner
    unsignedPresets: readonly string[]
  }
  /** GET /v1/events (the live stream) is served when given. */
  events?: EventRoutesOptions
  /** The web dashboard at /ui, from this built bundle folder (answers 503 when it is not built). */
  dashboard?: { root: string }
  /** /v1/session (the dashboard's cookie sign-in) is served, and its cookie accepted, when given. */
  sessions?: Sessions
  /**
   * The operator routes under /v1/admin (queue, dead letters, shards, keys, audit log, metrics)
   * are served when given; the owner erasure is then audited too.
   */
  admin?: AdminDeps
}
