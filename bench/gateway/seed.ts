/** The gateway part's data: ready images written straight into the metadata, shared by every server. */
import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { newImageId } from '../../src/domain/ids.js'
import { objectKeys, type Variant } from '../../src/domain/image.js'
import { openDeps } from '../../src/start/deps.js'
import { benchConfig } from '../harness/config.js'

const OWNER = 'bench-owner'
/** Ready images read round robin. */
export const IDS = 500
const PRESETS = [
  ['thumb', 320],
  ['medium', 1024],
  ['large', 2048],
] as const

/**
 * One owner, one API key and IDS ready images with the default six variants, written straight
 * into the metadata (no pixels are needed to read metadata). Shared read-only by every server.
 */
export async function seed(dataDir: string): Promise<{ key: string; ids: string[] }> {
  const deps = await openDeps(benchConfig(dataDir))
  try {
    const { key } = await deps.apiKeys.create(OWNER)
    const bucket = deps.metadata.bucketOfOwner(OWNER)
    const shard = await deps.metadata.shard(deps.metadata.directory().shardOf[bucket]!)
    // Only this seeding connection: the servers reopen the file with synchronous=FULL.
    await sql`PRAGMA synchronous = OFF`.execute(shard.db)
    const ids: string[] = []
    const now = Date.now()
    for (let i = 0; i < IDS; i++) {
      const id = newImageId(bucket)
      const image = {
        id,
        ownerId: OWNER,
        visibility: 'public' as const,
        bucket,
        format: 'jpeg' as const,
        width: 4000,
        height: 3000,
        frames: 1,
      }
      await shard.createImage(
        bucket,
        {
          ...image,
          bytes: 3_500_000,
          sha256: randomBytes(32).toString('hex'),
          idempotencyKey: null,
        },
        JSON.stringify({ imageId: id }),
        now,
      )
      const variants: Variant[] = PRESETS.flatMap(([name, width]) =>
        (['webp', 'jpeg'] as const).map((format) => ({
          name,
          format,
          width,
          height: (width * 3) / 4,
          bytes: width * 60,
          etag: `"${randomBytes(8).toString('hex')}"`,
          key: objectKeys.variant(id, name, format),
          version: null,
        })),
      )
      if (
        !(await shard.completeImage(
          bucket,
          id,
          {
            variants,
            placeholder: { type: 'thumbhash', value: 'YJqGPQw7sFlslqhFafSE+Q6oJ1h2iHB2Rw' },
          },
          now,
        ))
      )
        throw new Error(`could not mark ${id} ready`)
      ids.push(id)
    }
    // No jobs: the servers' relays have nothing to publish.
    await shard.removeOutbox((await shard.readOutbox(IDS * 2)).map((item) => item.seq))
    return { key, ids }
  } finally {
    await deps.queue.close()
    await deps.metadata.close()
    await deps.control.destroy()
  }
}
