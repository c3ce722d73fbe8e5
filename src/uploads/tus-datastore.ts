import type { StorageConfig } from '../config/schema.js'
import type { TusDatastore } from './tus.js'

/**
 * Where incomplete tus uploads live, following the object store's driver: a folder under the
 * data directory with local storage (@tus/file-store), the same bucket with S3 (@tus/s3-store,
 * a multipart upload per tus upload, so any API process can continue it). Each library is
 * imported only by the deployment that uses it. Incomplete uploads expire `expiryMs` after they
 * began.
 */
export async function createTusDatastore(
  storage: StorageConfig,
  options: { directory: string; expiryMs: number },
): Promise<{ datastore: TusDatastore; idPrefix: string }> {
  if (storage.driver === 'local') {
    const { FileStore } = await import('@tus/file-store')
    const datastore = new FileStore({
      directory: options.directory,
      expirationPeriodInMilliseconds: options.expiryMs,
    }) as TusDatastore
    return { datastore, idPrefix: '' }
  }
  const { S3Store } = await import('@tus/s3-store')
  const credentials =
    storage.accessKeyId && storage.secretAccessKey
      ? { accessKeyId: storage.accessKeyId, secretAccessKey: storage.secretAccessKey }
      : undefined
  // @tus/s3-store keys objects by upload id alone: the id carries the store's prefix.
  const trimmed = (storage.prefix ?? '').replace(/^\/+|\/+$/g, '')
  const idPrefix = `${trimmed === '' ? '' : `${trimmed}/`}${TUS_FOLDER}/`
  const datastore = new S3Store({
    expirationPeriodInMilliseconds: options.expiryMs,
    s3ClientConfig: {
      bucket: storage.bucket,
      region: storage.region,
      forcePathStyle: storage.forcePathStyle,
      ...(storage.endpoint ? { endpoint: storage.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
    },
  }) as TusDatastore
  return { datastore, idPrefix }
}

/** Where tus's objects live under the S3 store's prefix (outside images/: gc never walks it). */
export const TUS_FOLDER = 'tus'
