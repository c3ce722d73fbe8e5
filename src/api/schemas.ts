import { type Static, Type } from '@sinclair/typebox'
import { ImageSchema, VariantSchema } from '../domain/image.js'

/**
 * Route schemas: Fastify validates requests with them, serialises responses through them (so an
 * internal field can never leak), and @fastify/swagger turns them into /openapi.json. The views
 * are picked from the domain schemas; the serialiser writes properties in schema order, so the
 * order of the picked keys is the order of the JSON.
 */
export const IdParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'Image id (29 characters)' }),
})

export const VariantView = Type.Composite([
  Type.Pick(VariantSchema, ['name', 'format', 'width', 'height', 'bytes']),
  Type.Object({
    url: Type.String({ description: 'Delivery URL; signed and expiring for private images' }),
  }),
])

export const ImageView = Type.Composite(
  [
    Type.Pick(ImageSchema, [
      'id',
      'status',
      'visibility',
      'format',
      'width',
      'height',
      'bytes',
      'frames',
      'sha256',
      'placeholder',
      'dominantColor',
      'focalPoint',
      'failure',
      'attempts',
    ]),
    Type.Object({
      createdAt: Type.String({ format: 'date-time' }),
      updatedAt: Type.String({ format: 'date-time' }),
      variants: Type.Array(VariantView),
      links: Type.Object({ self: Type.String() }),
      ownerId: Type.Optional(
        Type.String({ description: 'Only in the admin listing, which spans owners' }),
      ),
    }),
  ],
  { $id: 'Image' },
)
export type ImageViewBody = Static<typeof ImageView>

/** Keyset pagination: `cursor` is the previous page's nextCursor (the last id it showed). */
export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(
    Type.String({ maxLength: 64, description: 'nextCursor of the previous page' }),
  ),
})

export const ImagePage = Type.Object({
  items: Type.Array(ImageView),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  links: Type.Object({ next: Type.Optional(Type.String()) }),
})
export type ImagePageBody = Static<typeof ImagePage>

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable error code: see docs/errors.md' }),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Problem' },
)

const problemRef = () => Type.Unsafe<Static<typeof Problem>>(Type.Ref('Problem'))

/** The error responses every authenticated route can give. */
export function problems<S extends number>(
  ...statuses: S[]
): Record<401 | 403 | 429 | S, ReturnType<typeof problemRef>> {
  const entries = [401, 403, 429, ...statuses].map((status) => [status, problemRef()])
  return Object.fromEntries(entries) as Record<401 | 403 | 429 | S, ReturnType<typeof problemRef>>
}

/** A 204: documented as null, sent as nothing at all (`reply.send()`). */
export const NoContent = Type.Unsafe<undefined>(Type.Null())
