import { KindGuard, type TObject } from '@sinclair/typebox'
import type { Kysely, Selectable, Transaction } from 'kysely'
import {
  type Image,
  ImageSchema,
  type NewImage,
  type Placeholder,
  queuedImage,
  type Variant,
  VariantSchema,
} from '../domain/image.js'
import {
  type Columns,
  IMAGE_COLUMNS,
  type ImagesTable,
  type MetadataDb,
  type StoredImage,
  VARIANT_COLUMNS,
  type VariantsTable,
} from './db.js'
import { READABLE } from './ownership.js'
import { legacyPlaceholderKind } from './placeholder-kind.js'

/**
 * One shard's rows and the domain's image: the one mapping per direction (the fields come from the
 * domain schema and the column map in db.ts), and loading an image with its variants.
 */
export type Db = Kysely<MetadataDb> | Transaction<MetadataDb>

/** Image rows of the buckets this shard serves (not those being copied in or already let go). */
export function servedImages(db: Kysely<MetadataDb>) {
  return db
    .selectFrom('images')
    .innerJoin('bucket_ownership', 'bucket_ownership.bucket', 'images.bucket')
    .where('bucket_ownership.state', 'in', READABLE)
}

export async function imageIn(db: Db, id: string): Promise<Image | null> {
  const row = await db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst()
  return row ? withVariants(db, row) : null
}

export async function withVariants(db: Db, row: Selectable<ImagesTable>): Promise<Image> {
  const variants = await variantsOf(db, [row.id])
  return toImage(row, variants.get(row.id) ?? [])
}

export async function withAllVariants(db: Db, rows: Selectable<ImagesTable>[]): Promise<Image[]> {
  const variants = await variantsOf(
    db,
    rows.map((r) => r.id),
  )
  return rows.map((row) => toImage(row, variants.get(row.id) ?? []))
}

export async function variantsOf(db: Db, ids: string[]): Promise<Map<string, Variant[]>> {
  const byImage = new Map<string, Variant[]>()
  if (ids.length === 0) return byImage
  const rows = await db.selectFrom('variants').selectAll().where('image_id', 'in', ids).execute()
  for (const row of rows) {
    const list = byImage.get(row.image_id) ?? []
    list.push(toVariant(row))
    byImage.set(row.image_id, list)
  }
  for (const list of byImage.values()) sortVariants(list)
  return byImage
}

export function sortVariants(list: Variant[]): Variant[] {
  return list.sort((a, b) => a.width - b.width || a.format.localeCompare(b.format))
}

/**
 * Row ↔ model, one function per direction, driven by the column maps of db.ts and the domain
 * schemas: a new field needs its schema property, its column name and a migration, nothing here.
 */
interface Field {
  field: string
  column: string
  /** PostgreSQL returns bigint columns as strings: integers are coerced on the way in. */
  integer: boolean
}

function fieldsOf(schema: TObject, columns: Record<string, string>): Field[] {
  return Object.entries(columns).map(([field, column]) => ({
    field,
    column,
    integer: KindGuard.IsInteger(schema.properties[field]),
  }))
}

const IMAGE_FIELDS = fieldsOf(ImageSchema, IMAGE_COLUMNS)
const VARIANT_FIELDS = fieldsOf(VariantSchema, VARIANT_COLUMNS)

type Fields = Record<string, unknown>

function toColumns(model: Fields, fields: readonly Field[]): Fields {
  const row: Fields = {}
  for (const { field, column } of fields) row[column] = model[field]
  return row
}

function fromColumns(row: Fields, fields: readonly Field[]): Fields {
  const model: Fields = {}
  for (const { field, column, integer } of fields) {
    model[field] = integer ? Number(row[column]) : row[column]
  }
  return model
}

export function toRow(image: NewImage, now: number): ImagesTable {
  const queued = queuedImage(image, now)
  return {
    ...(toColumns(queued, IMAGE_FIELDS) as Columns<StoredImage, typeof IMAGE_COLUMNS>),
    idempotency_key: image.idempotencyKey,
    failure_code: queued.failure?.code ?? null,
    failure_detail: queued.failure?.detail ?? null,
    placeholder: null,
    placeholder_type: null,
    focal_x: null,
    focal_y: null,
  }
}

export function toImage(row: Selectable<ImagesTable>, variants: Variant[]): Image {
  return {
    ...(fromColumns(row, IMAGE_FIELDS) as StoredImage),
    failure: row.failure_code ? { code: row.failure_code, detail: row.failure_detail ?? '' } : null,
    placeholder: placeholderOf(row.placeholder, row.placeholder_type),
    focalPoint:
      row.focal_x === null || row.focal_y === null
        ? null
        : { x: Number(row.focal_x), y: Number(row.focal_y) },
    variants,
  }
}

/** A placeholder with its kind; rows written before 0008 have none, read from the value's shape. */
export function placeholderOf(value: string | null, type: string | null): Placeholder | null {
  if (value === null) return null
  if (type === 'thumbhash' || type === 'blurhash') return { type, value }
  return { type: legacyPlaceholderKind(value), value }
}

export function toVariant(row: Selectable<VariantsTable>): Variant {
  return fromColumns(row, VARIANT_FIELDS) as Variant
}

export function toVariantRow(imageId: string, bucket: number, variant: Variant): VariantsTable {
  return {
    image_id: imageId,
    bucket,
    ...(toColumns(variant, VARIANT_FIELDS) as Columns<Variant, typeof VARIANT_COLUMNS>),
  }
}
