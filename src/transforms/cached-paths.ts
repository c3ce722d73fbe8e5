import type { Preset } from '../config/schema.js'
import { extensionOf, OUTPUT_FORMATS } from '../domain/formats.js'
import { type Image, variantPath } from '../domain/image.js'
import type { TransformSigner } from '../domain/signed-urls.js'
import type { ObjectStore } from '../storage/object-store.js'
import { derivedKeys } from './derived.js'
import { canonicalOf, isUnsignedPreset, parseOptions, transformPath } from './options.js'

export interface CachedPathsDeps {
  store: Pick<ObjectStore, 'list'>
  presets: readonly Preset[]
  signer: Pick<TransformSigner, 'signAll'>
  unsignedPresets: readonly string[]
}

/**
 * Every public URL path a CDN may hold for an image, for the purger on delete: each variant's
 * versioned URL, each preset with
 * each output extension and without one (negotiated), and each transform that was rendered
 * (read back from the derived objects' names), signed with every key, in its canonical
 * spelling with and without an extension. Other spellings of a transform cannot be known: the
 * shipped nginx config keeps its copies for a bounded time instead (docs/delivery.md).
 */
export async function cachedPaths(
  deps: CachedPathsDeps,
  image: Pick<Image, 'id' | 'variants'>,
): Promise<string[]> {
  const imageId = image.id
  const paths = new Set<string>()
  // Versioned URLs (immutable) are cached for good: only a purge removes them.
  for (const variant of image.variants) paths.add(variantPath(imageId, variant))
  for (const preset of deps.presets) {
    paths.add(`/i/${imageId}/${preset.name}`)
    for (const format of OUTPUT_FORMATS)
      paths.add(`/i/${imageId}/${preset.name}.${extensionOf(format)}`)
  }
  for (const key of await deps.store.list(derivedKeys.prefix(imageId))) {
    const canonical = derivedKeys.canonicalOf(key)
    if (canonical) for (const path of transformPaths(deps, canonical, imageId)) paths.add(path)
  }
  return [...paths]
}

function transformPaths(deps: CachedPathsDeps, canonical: string, imageId: string): string[] {
  const { options } = parseOptions(canonical)
  const signatures = deps.signer.signAll(transformPath(canonical, imageId))
  if (isUnsignedPreset(options, deps.unsignedPresets)) signatures.push('_')
  const { format, ...rest } = options
  const withoutFormat = Object.keys(rest).length > 0 ? canonicalOf(rest) : null
  return signatures.flatMap((signature) => [
    `/t/${signature}/${canonical}/${imageId}`,
    ...(format && withoutFormat
      ? [`/t/${signature}/${withoutFormat}/${imageId}.${extensionOf(format)}`]
      : []),
  ])
}
