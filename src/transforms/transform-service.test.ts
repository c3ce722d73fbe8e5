import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { makeJpeg } from '../../test/fixtures/images.js'
import { loadConfig } from '../config/load.js'
import { newImageId } from '../domain/ids.js'
import { type Image, objectKeys, queuedImage } from '../domain/image.js'
import { isAppError } from '../errors/index.js'
import { createLocalDiskStore } from '../storage/drivers/local-disk.js'
import type { ObjectStore } from '../storage/object-store.js'
import { createMemoryLocks } from './locks/memory.js'
import { parseOptions } from './options.js'
import { createTransformService } from './transform-service.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

async function setup(wrap: (store: ObjectStore) => ObjectStore = (store) => store) {
  const root = await mkdtemp(join(tmpdir(), 'pixelflow-transform-service-'))
  dirs.push(root)
  const config = loadConfig({ PIXELFLOW_DATA_DIR: root })
  const store = createLocalDiskStore({ root: join(root, 'objects') })
  const service = createTransformService({
    store: wrap(store),
    locks: createMemoryLocks(),
    processing: config.processing,
    limits: config.limits,
    settings: config.delivery.transforms,
  })
  const image: Image = {
    ...queuedImage(
      {
        id: newImageId(1),
        ownerId: 'owner',
        visibility: 'public',
        bucket: 1,
        format: 'jpeg',
        width: 640,
        height: 480,
        frames: 1,
        bytes: 1,
        sha256: 'x'.repeat(64),
        idempotencyKey: null,
      },
      Date.now(),
    ),
    status: 'ready',
  }
  const deliver = async () => {
    const { options, canonical } = parseOptions('w:100', 'webp')
    return service.deliver(image, canonical, service.plan(options, 'image/webp', image))
  }
  return { store, image, deliver }
}

const codeOf = (error: unknown) => (isAppError(error) ? error.code : error)

describe('transform service', () => {
  it('renders from the stored original', async () => {
    const { store, image, deliver } = await setup()
    await store.put(objectKeys.original(image.id), await makeJpeg())
    const result = await deliver()
    expect(result.kind).toBe('rendered')
  })

  it('answers IMAGE_NOT_FOUND when the original is gone', async () => {
    const { deliver } = await setup()
    expect(await deliver().catch(codeOf)).toBe('IMAGE_NOT_FOUND')
  })

  it('answers IMAGE_NOT_FOUND when the file goes between the store’s answer and libvips opening it', async () => {
    const { store, image, deliver } = await setup((inner) => ({
      ...inner,
      // The store names a file, which is deleted before the render opens it.
      localPath: async (key) => `${await inner.localPath!(key)}.deleted-meanwhile`,
    }))
    await store.put(objectKeys.original(image.id), await makeJpeg())
    expect(await deliver().catch(codeOf)).toBe('IMAGE_NOT_FOUND')
  })
})
