import type { StorageConfig } from '../config/schema.js'

type S3Config = Extract<StorageConfig, { driver: 's3' }>

export interface PresignedPut {
  method: 'PUT'
  url: string
  /** Headers the client must send exactly: they are part of the signature. */
  headers: Record<string, string>
  /** Epoch milliseconds. */
  expiresAt: number
}

/** Signs a PUT of one object key (relative to the object store's prefix). */
export type Presigner = (
  key: string,
  request: { contentType: string; bytes: number; expiresInSeconds: number },
) => Promise<PresignedPut>

/**
 * Presigned PUTs for direct-to-S3 uploads (@aws-sdk/s3-request-presigner). A PUT rather than a
 * POST policy: the S3 emulator the tests run against (fauxqs) has no POST-object route, and a PUT
 * bounds the size as tightly: Content-Length and Content-Type are signed headers, so S3 refuses
 * any other length or type. The key gets the object store's prefix, as the S3 driver does, so
 * the store port finds the object under the same relative key. Only an S3 deployment builds
 * this; the AWS SDK is imported lazily like the driver's.
 */
export async function createS3Presigner(config: S3Config): Promise<Presigner> {
  const [{ S3Client, PutObjectCommand }, { getSignedUrl }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/s3-request-presigner'),
  ])
  const client = new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.accessKeyId && config.secretAccessKey
      ? {
          credentials: {
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
          },
        }
      : {}),
  })
  const trimmed = (config.prefix ?? '').replace(/^\/+|\/+$/g, '')
  const root = trimmed === '' ? '' : `${trimmed}/`

  return async (key, { contentType, bytes, expiresInSeconds }) => {
    const command = new PutObjectCommand({
      Bucket: config.bucket,
      Key: root + key,
      ContentType: contentType,
      ContentLength: bytes,
    })
    const url = await getSignedUrl(client, command, {
      expiresIn: expiresInSeconds,
      signableHeaders: new Set(['content-type', 'content-length']),
    })
    return {
      method: 'PUT',
      url,
      headers: { 'content-type': contentType, 'content-length': String(bytes) },
      expiresAt: Date.now() + expiresInSeconds * 1000,
    }
  }
}
