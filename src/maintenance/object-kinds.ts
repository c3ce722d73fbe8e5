import { OUTPUT_FORMATS } from '../domain/formats.js'
import { bucketOfId } from '../domain/ids.js'
import { objectKeys, parseDerivedKey } from '../domain/image.js'

/**
 * Every kind of object the service writes, recognised from its key. The garbage collector and
 * the owner erasure delete only keys recognised here: a key that no kind claims (an operator's
 * file, a kind added by a newer release) is reported and left alone, never guessed at.
 *
 * A new kind of object is one entry below, written next to the code that starts writing it:
 *  - derived transforms (src/transforms) live under the image's prefix,
 *    `images/<id>/t/<canonical options>/<digest>.<ext>`, owned by the image's row like variants;
 *  - direct uploads' staging objects live under `uploads/<id>`, owned by a `direct_uploads` row
 *    of the control database, not an image row; the uploads sweep (src/uploads) removes them
 *    after their deadline, so the collector does not walk that prefix (OBJECT_PREFIXES). Resumable
 *    (tus) uploads live in the tus store (a folder, or `<id>`, `<id>.info`, `<id>.part` at the
 *    bucket root with S3), expired by the same sweep.
 */
export type ObjectKind = 'original' | 'variant' | 'derived'

export interface RecognisedObject {
  kind: ObjectKind
  /** The image whose row owns the object: no row (and old enough) makes the object an orphan. */
  imageId: string
}

/** `<preset>.<format>`, or `<preset>.<version>.<format>` (imaging/preset-version.ts). */
const VARIANT_FILE = /^([A-Za-z0-9_-]+)(?:\.([0-9a-f]{8}))?\.([a-z0-9]+)$/
const VARIANT_FORMATS = new Set<string>(OUTPUT_FORMATS)

/** The kind and owning image of a key, or null for a key the service does not write. */
export function recogniseKey(key: string): RecognisedObject | null {
  const derived = parseDerivedKey(key)
  if (derived && bucketOfId(derived.imageId) !== null)
    return { kind: 'derived', imageId: derived.imageId }
  const parts = key.split('/')
  if (parts.length !== 3 || parts[0] !== 'images') return null
  const [, imageId, file] = parts as [string, string, string]
  // A valid id whose bucket decodes: the only ids objectKeys is ever given.
  if (bucketOfId(imageId) === null) return null
  if (key === objectKeys.original(imageId)) return { kind: 'original', imageId }
  const variant = VARIANT_FILE.exec(file)
  if (!variant || !VARIANT_FORMATS.has(variant[3]!)) return null
  const [, name, version, format] = variant as unknown as [
    string,
    string,
    string | undefined,
    string,
  ]
  return key === objectKeys.variant(imageId, name, format, version ?? null)
    ? { kind: 'variant', imageId }
    : null
}

/** Where the service's objects live: the store prefixes the garbage collector walks. */
export const OBJECT_PREFIXES = ['images/'] as const
