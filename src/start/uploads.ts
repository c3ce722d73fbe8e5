import type { Logger } from 'pino'
import { createUploadTokens } from '../auth/upload-tokens.js'
import type { Config } from '../config/schema.js'
import type { SigningKey } from '../domain/signed-urls.js'
import type { ImageService } from '../images/image-service.js'
import { createDirectUploads, sweepDirectUploads } from '../uploads/direct-uploads.js'
import { createS3Presigner } from '../uploads/s3-presigner.js'
import { startUploadSweeper } from '../uploads/sweep.js'
import { createTusUploads } from '../uploads/tus.js'
import { createTusDatastore, TUS_FOLDER } from '../uploads/tus-datastore.js'
import type { UploadImage } from '../uploads/types.js'
import { createUploadTokenService, sweepUploadTokens } from '../uploads/upload-token-service.js'
import { uploadTablesOf } from './control-db.js'
import type { Deps } from './deps.js'

/** Where tus is mounted: the tus server builds upload URLs under it. */
export const TUS_PATH = '/v1/tus'

const tusStoreOf = (config: Config) =>
  createTusDatastore(config.storage, {
    directory: config.uploads.tusDirectory,
    expiryMs: config.uploads.expirySeconds * 1000,
  })

/**
 * The uploads use cases for the API role: tus on the storage driver's tus store, direct uploads
 * (presigning only with S3), upload tokens keyed from the URL-signing keys. The image pipeline is
 * injected as two functions, so src/uploads never imports src/images.
 */
export async function createUploads(
  config: Config,
  deps: Deps,
  images: Pick<ImageService, 'upload' | 'getOwned'>,
  signingKeys: SigningKey[],
  logger: Logger,
) {
  const db = uploadTablesOf(deps.control)
  const signer = createUploadTokens(signingKeys)
  const tokens = createUploadTokenService({
    db,
    mint: signer.mint,
    maxUploadBytes: config.limits.maxUploadBytes,
    maxTtlSeconds: config.uploads.tokenMaxTtlSeconds,
  })
  const refund = (tokenId: string) => tokens.refund(tokenId)
  // Counted in pixelflow_uploads_total like a plain upload: accepted, duplicate, or the code.
  const upload: UploadImage = async (ownerId, body, options) => {
    const result = await images.upload(ownerId, body, options).catch((error: unknown) => {
      deps.metrics.uploads.inc({ result: (error as { code?: string }).code ?? 'INTERNAL' })
      throw error
    })
    deps.metrics.uploads.inc({ result: result.created ? 'accepted' : 'duplicate' })
    return result
  }
  const tus = createTusUploads({
    ...(await tusStoreOf(config)),
    // A finished upload's objects (S3): `tus/<id>` and its `.info`, relative to the store's prefix.
    removeFinished: async (urlId) => {
      if (config.storage.driver !== 's3') return
      await deps.store.delete(`${TUS_FOLDER}/${urlId}`)
      await deps.store.delete(`${TUS_FOLDER}/${urlId}.info`)
    },
    upload,
    path: TUS_PATH,
    refund,
    // The API's CORS settings, which tus's own CORS headers must not widen.
    allowedOrigins: config.http.corsOrigins.includes('*') ? undefined : config.http.corsOrigins,
    exposedHeaders: ['X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
    onError: (err, uploadId) => logger.warn({ err, uploadId }, 'tus upload failed'),
  })
  const direct = createDirectUploads({
    db,
    store: deps.store,
    presign: config.storage.driver === 's3' ? await createS3Presigner(config.storage) : null,
    upload,
    getImage: images.getOwned,
    refund,
    expirySeconds: config.uploads.expirySeconds,
    urlTtlSeconds: config.uploads.directUrlTtlSeconds,
  })
  return { tus, direct, tokens, verifyToken: signer }
}

/**
 * The relay's process removes what incomplete uploads leave: expired tus uploads, direct uploads
 * never completed (object and row), expired tokens' rows.
 */
export async function startUploadSweep(config: Config, deps: Deps, logger: Logger) {
  const db = uploadTablesOf(deps.control)
  const tusStore = (await tusStoreOf(config)).datastore
  return startUploadSweeper({
    intervalMs: config.uploads.sweepIntervalMs,
    logger,
    parts: {
      tus: () => tusStore.deleteExpired(),
      direct: (now) => sweepDirectUploads({ db, store: deps.store }, now),
      tokens: (now) => sweepUploadTokens(db, now),
    },
  })
}
