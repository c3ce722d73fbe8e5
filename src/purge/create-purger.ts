import type { Logger } from 'pino'
import type { DeliveryConfig } from '../config/schema.js'
import { createCloudFrontPurger } from './drivers/cloudfront.js'
import { createNginxPurger } from './drivers/nginx.js'
import { createNonePurger } from './drivers/none.js'
import type { Purger } from './purger.js'

export interface PurgerUse {
  /** Where the nginx driver notes what it removed and the CloudFront driver its invalidations and retries. */
  logger?: Logger
}

/** Async because the CloudFront driver imports the AWS SDK lazily. */
export async function createPurger(
  config: DeliveryConfig['purge'],
  options: PurgerUse = {},
): Promise<Purger> {
  switch (config.driver) {
    case 'none':
      return createNonePurger()
    case 'nginx':
      return createNginxPurger({ ...config, logger: options.logger })
    case 'cloudfront':
      return createCloudFrontPurger({ ...config, logger: options.logger })
  }
}
