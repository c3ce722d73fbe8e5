import { setTimeout as sleep } from 'node:timers/promises'
import type { Image } from '../domain/image.js'
import { objectKeys } from '../domain/image.js'
import { presetVersion } from '../imaging/preset-version.js'
import type { Completion } from '../metadata/shard-store.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import { deletePrefix } from '../storage/delete-prefix.js'
import { createVariantRenderer, type RenderDeps } from './render-variants.js'

export interface ReprocessDeps extends RenderDeps {
  metadata: ShardedMetadata
  /** After an image's rows changed: drop its cached copies (the metadata cache). */
  onChanged(imageId: string): Promise<void>
  /** Before an image's old variant objects go: purge the CDN's copies of its URLs. */
  purge(image: Pick<Image, 'id' | 'variants'>): Promise<void>
  /**
   * How long a process may still serve the rows from before the change from its own memory
   * (the metadata cache's TTL): old objects outlive their rows this long, so nobody is handed a
   * URL whose bytes are already gone.
   */
  staleForMs: number
}

export interface ReprocessOptions {
  /** One owner's images; unset: every owner's. */
  ownerId?: string
  /** Images started per second at most: the throttle that leaves the machine to uploads. */
  ratePerSecond: number
  signal?: AbortSignal
  /** Called after each image that was rendered again. */
  onReprocessed?(image: Image): void
  /** Called for an image that could not be rendered again; it keeps its variants, the run goes on. */
  onFailed?(image: Image, error: unknown): void
}

export interface ReprocessReport {
  /** Ready images looked at. */
  checked: number
  /** Rendered again: some preset's version (or the preset itself) was missing. */
  reprocessed: number
  /** Deleted while it was being rendered: its new objects were removed again. */
  gone: number
  /**
   * Could not be rendered again (a limit lowered since, an original gone): they keep the variants
   * they had. Their new objects written so far stay until the image is reprocessed or deleted.
   */
  failed: number
  /** Objects of the variants that were replaced, deleted. */
  deletedObjects: number
}

const PAGE = 100

/**
 * `pixelflow images reprocess`: renders again the variants of every ready image whose presets
 * changed since it was processed (a version missing from its rows, imaging/preset-version.ts),
 * one image at a time at most `ratePerSecond`. New variants go to new keys; the rows are swapped
 * in one transaction; the old objects are deleted only once every cache has let go of the old
 * rows. Images already up to date are skipped, so an interrupted run is simply run again.
 */
export async function reprocessImages(
  deps: ReprocessDeps,
  options: ReprocessOptions,
): Promise<ReprocessReport> {
  const render = createVariantRenderer(deps)
  const report: ReprocessReport = {
    checked: 0,
    reprocessed: 0,
    gone: 0,
    failed: 0,
    deletedObjects: 0,
  }
  const retiring: { image: Image; keys: string[]; at: number }[] = []
  const gap = 1000 / options.ratePerSecond
  const signal = options.signal ?? new AbortController().signal
  let nextStart = 0

  async function retire(all: boolean): Promise<void> {
    while (retiring.length > 0) {
      const wait = retiring[0]!.at + deps.staleForMs - Date.now()
      if (wait > 0 && !all) return
      if (wait > 0) await sleep(wait)
      const { image, keys } = retiring.shift()!
      await deps.purge(image)
      await Promise.all(keys.map((key) => deps.store.delete(key)))
      report.deletedObjects += keys.length
    }
  }

  for await (const image of readyImages(deps.metadata, options.ownerId)) {
    signal.throwIfAborted()
    report.checked++
    if (isCurrent(deps, image)) continue
    await sleep(Math.max(0, nextStart - Date.now()))
    nextStart = Date.now() + gap
    let done: Completion
    try {
      done = await render(image, signal)
    } catch (error) {
      signal.throwIfAborted()
      report.failed++
      options.onFailed?.(image, error)
      continue
    }
    const store = deps.metadata.forImageId(image.id)!
    const before = await store.replaceVariants(image.id, done.variants, Date.now())
    if (!before) {
      // Deleted meanwhile (a ready image only leaves that state by going): the delete could not
      // see the objects written here.
      if (!(await store.getImage(image.id)))
        await deletePrefix(deps.store, objectKeys.prefix(image.id))
      report.gone++
      continue
    }
    await deps.onChanged(image.id)
    const kept = new Set(done.variants.map((v) => v.key))
    const old = [...new Set(before.variants.map((v) => v.key))].filter((key) => !kept.has(key))
    retiring.push({ image: before, keys: old, at: Date.now() })
    report.reprocessed++
    options.onReprocessed?.(image)
    await retire(false)
  }
  await retire(true)
  return report
}

/** Every configured preset in every configured format, at its current version. */
function isCurrent(deps: Pick<RenderDeps, 'processing'>, image: Image): boolean {
  const { presets, formats } = deps.processing
  return presets.every((preset) =>
    formats.every((format) => {
      const version = presetVersion(preset, format, deps.processing)
      return image.variants.some(
        (v) => v.name === preset.name && v.format === format && v.version === version,
      )
    }),
  )
}

/** One owner's ready images, or every owner's across shards, a page at a time by id. */
async function* readyImages(metadata: ShardedMetadata, ownerId?: string): AsyncGenerator<Image> {
  let before: string | undefined
  for (;;) {
    const page = ownerId
      ? await metadata.forOwner(ownerId).listImages(ownerId, PAGE, before)
      : await metadata.listAll(PAGE, before)
    for (const image of page) if (image.status === 'ready') yield image
    if (page.length < PAGE) return
    before = page[page.length - 1]!.id
  }
}
