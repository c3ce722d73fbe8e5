import { type Static, type TUnsafe, Type } from '@sinclair/typebox'
import {
  extensionOf,
  FORMATS,
  type InputFormat,
  OUTPUT_FORMATS,
  type OutputFormat,
} from './formats.js'

/**
 * The image and its variants, declared once as TypeBox schemas: the types below, the shard's table
 * types and row mappers (metadata/) and the API's view schema (api/) derive from them. A new field
 * does not compile until metadata/db.ts gives it a column; the API shows it only if its view
 * picks it.
 */

/** A plain string enum: serialised as a string, typed as the union, shown as an enum in OpenAPI. */
const StringEnum = <T extends string>(values: readonly T[]): TUnsafe<T> =>
  Type.Unsafe<T>({ type: 'string', enum: [...values] })

export const ImageStatusSchema = Type.Union([
  Type.Literal('queued'),
  Type.Literal('processing'),
  Type.Literal('ready'),
  Type.Literal('failed'),
])
export type ImageStatus = Static<typeof ImageStatusSchema>

export const VisibilitySchema = Type.Union([Type.Literal('public'), Type.Literal('private')])
export type Visibility = Static<typeof VisibilitySchema>

export const VariantSchema = Type.Object({
  name: Type.String(),
  format: StringEnum<OutputFormat>(OUTPUT_FORMATS),
  width: Type.Integer(),
  height: Type.Integer(),
  bytes: Type.Integer(),
  etag: Type.String(),
  key: Type.String(),
  /**
   * The preset's settings when it was made (imaging/preset-version.ts), in its key and URL; null
   * for variants made before versions existed, whose URLs stay unversioned.
   */
  version: Type.Union([Type.String(), Type.Null()]),
})
export type Variant = Static<typeof VariantSchema>

/** The placeholder kinds a worker makes (PIXELFLOW_PLACEHOLDER); `none` makes no placeholder. */
export const PLACEHOLDER_KINDS = ['thumbhash', 'blurhash'] as const
export type PlaceholderKind = (typeof PLACEHOLDER_KINDS)[number]

/**
 * A placeholder says its kind: the setting can change between images, and a client must know
 * which decoder to use for each one.
 */
export const PlaceholderSchema = Type.Object({
  type: StringEnum<PlaceholderKind>(PLACEHOLDER_KINDS),
  value: Type.String({ description: 'ThumbHash: base64 bytes; BlurHash: its base83 string' }),
})
export type Placeholder = Static<typeof PlaceholderSchema>

/**
 * Where the subject of the picture is, as fractions of its width and height from the top left:
 * cover crops that name no gravity keep it in frame (src/transforms).
 */
export const FocalPointSchema = Type.Object({
  x: Type.Number({ minimum: 0, maximum: 1 }),
  y: Type.Number({ minimum: 0, maximum: 1 }),
})
export type FocalPoint = Static<typeof FocalPointSchema>

export const ImageSchema = Type.Object({
  id: Type.String(),
  ownerId: Type.String(),
  /** Private images are delivered only through signed, expiring URLs. */
  visibility: VisibilitySchema,
  bucket: Type.Integer(),
  status: ImageStatusSchema,
  format: StringEnum(Object.keys(FORMATS) as InputFormat[]),
  width: Type.Integer(),
  height: Type.Integer(),
  frames: Type.Integer(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  placeholder: Type.Union([PlaceholderSchema, Type.Null()]),
  /** The most frequent colour of the decoded image, as `#rrggbb`; null until it is processed. */
  dominantColor: Type.Union([Type.String({ pattern: '^#[0-9a-f]{6}$' }), Type.Null()]),
  /** Set by the owner (PATCH /v1/images/:id); null: crops keep the centre. */
  focalPoint: Type.Union([FocalPointSchema, Type.Null()]),
  failure: Type.Union([Type.Object({ code: Type.String(), detail: Type.String() }), Type.Null()]),
  /** Worker starts on this image: more than 1 after a crash, a timeout or a retry. */
  attempts: Type.Integer(),
  /** Epoch milliseconds. */
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  variants: Type.Array(VariantSchema),
})
export type Image = Static<typeof ImageSchema>

/** What the upload use case knows when it commits an image row. */
export type NewImage = Pick<
  Image,
  | 'id'
  | 'ownerId'
  | 'visibility'
  | 'bucket'
  | 'format'
  | 'width'
  | 'height'
  | 'frames'
  | 'bytes'
  | 'sha256'
> & {
  idempotencyKey: string | null
}

/** A new image as committed: queued, never tried, nothing made yet. */
export function queuedImage(image: NewImage, now: number): Image {
  const { idempotencyKey: _, ...fields } = image
  return {
    ...fields,
    status: 'queued',
    placeholder: null,
    dominantColor: null,
    focalPoint: null,
    failure: null,
    attempts: 0,
    createdAt: now,
    updatedAt: now,
    variants: [],
  }
}

/** A variant's URL path, `/i/<id>/<preset>.<version>.<ext>`; a variant from before versions has none. */
export function variantPath(
  imageId: string,
  variant: Pick<Variant, 'name' | 'format' | 'version'>,
): string {
  const version = variant.version ? `${variant.version}.` : ''
  return `/i/${imageId}/${variant.name}.${version}${extensionOf(variant.format)}`
}

/**
 * Object keys are deterministic, so a redelivered job overwrites rather than duplicates. Derived
 * results (on-the-fly transforms, src/transforms) live under the image's prefix too, so deleting
 * the image deletes them: their folder is the canonical option string (base64url), which the CDN
 * purger reads back, and their file is the render plan's digest.
 */
export const objectKeys = {
  prefix: (imageId: string) => `images/${imageId}/`,
  original: (imageId: string) => `images/${imageId}/original`,
  /** `images/<id>/<preset>.<version>.<format>`; without a version, as made before versions existed. */
  variant: (imageId: string, name: string, format: string, version: string | null = null) =>
    `images/${imageId}/${name}.${version ? `${version}.` : ''}${format}`,
  derivedPrefix: (imageId: string) => `images/${imageId}/t/`,
  derived: (imageId: string, canonical: string, digest: string, extension: string) =>
    `images/${imageId}/t/${Buffer.from(canonical).toString('base64url')}/${digest}.${extension}`,
}

const DERIVED_KEY = /^images\/([^/]+)\/t\/([A-Za-z0-9_-]+)\/[A-Za-z0-9_-]+\.[a-z0-9]+$/

/** The image and canonical option string of a derived key; null for any other key. */
export function parseDerivedKey(key: string): { imageId: string; canonical: string } | null {
  const match = DERIVED_KEY.exec(key)
  if (!match) return null
  return { imageId: match[1]!, canonical: Buffer.from(match[2]!, 'base64url').toString() }
}
