import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { DeliveryConfig } from '../config/schema.js'
import type { SigningKey } from '../domain/signed-urls.js'
import type { AuthTables } from './tables.js'

const SETTING = 'url_signing_key'

/**
 * The URL signing keys: from the config when given (required when several machines sign), else
 * one generated on first start and kept in the control database, so a fresh install signs
 * without configuration and its URLs survive restarts. Every process sharing the control
 * database shares the key.
 */
export async function resolveSigningKeys(
  config: Pick<DeliveryConfig, 'signingKeys'>,
  control: Kysely<AuthTables>,
): Promise<SigningKey[]> {
  if (config.signingKeys.length > 0) return [...config.signingKeys]
  const generated = randomBytes(32).toString('base64url')
  await control
    .insertInto('settings')
    .values({ key: SETTING, value: generated })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute()
  const row = await control
    .selectFrom('settings')
    .select('value')
    .where('key', '=', SETTING)
    .executeTakeFirstOrThrow()
  return [{ kid: 'local', secret: row.value }]
}
