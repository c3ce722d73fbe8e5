import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import type { Image } from '../domain/image.js'
import { createTransformSigner, type SigningKey } from '../domain/signed-urls.js'
import { createPurger } from '../purge/create-purger.js'
import type { ObjectStore } from '../storage/object-store.js'
import { cachedPaths } from './cached-paths.js'

export interface CdnPurge {
  /**
   * Purges every URL a cache may hold for the image. Call it after the row is gone and before
   * the objects: it reads the derived objects' names. A failure is logged, never thrown: the
   * image is deleted either way, and its cached copies then live until they expire.
   */
  purge(image: Pick<Image, 'id' | 'variants'>): Promise<void>
  close(): Promise<void>
}

/** The purger chosen by config (src/purge) with the URLs of an image (cached-paths.ts). */
export async function createCdnPurge(
  config: Pick<Config, 'delivery' | 'processing'>,
  store: Pick<ObjectStore, 'list'>,
  signingKeys: readonly SigningKey[],
  logger: Logger,
): Promise<CdnPurge> {
  const purger = await createPurger(config.delivery.purge, { logger })
  const deps = {
    store,
    presets: config.processing.presets,
    signer: createTransformSigner(signingKeys),
    unsignedPresets: config.delivery.unsignedPresets,
  }
  return {
    async purge(image) {
      if (purger.driver === 'none') return
      try {
        await purger.purge(await cachedPaths(deps, image))
      } catch (err) {
        logger.warn(
          { err, imageId: image.id },
          'CDN purge failed: cached copies live until they expire',
        )
      }
    },
    close: () => purger.close(),
  }
}
