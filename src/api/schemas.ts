import { Type } from '@sinclair/typebox'

/**
 * Route schemas: Fastify validates requests with them, serialises responses through them (so an
 * internal field can never leak), and @fastify/swagger turns them into /openapi.json.
 */
export const IdParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'Image id (29 characters)' }),
})

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) =>
  Type.Union([schema, Type.Null()])

export const VariantView = Type.Object({
  name: Type.String(),
  format: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  bytes: Type.Integer(),
  url: Type.String({ description: 'Delivery URL; signed and expiring for private images' }),
})

export const ImageView = Type.Object(
  {
    id: Type.String(),
    status: Type.Union(['queued', 'processing', 'ready', 'failed'].map((s) => Type.Literal(s))),
    visibility: Type.Union([Type.Literal('public'), Type.Literal('private')]),
    format: Type.String(),
    width: Type.Integer(),
    height: Type.Integer(),
    bytes: Type.Integer(),
    frames: Type.Integer(),
    sha256: Type.String(),
    placeholder: Nullable(Type.String({ description: 'ThumbHash (base64) or BlurHash' })),
    failure: Type.Union([Type.Object({ code: Type.String(), detail: Type.String() }), Type.Null()]),
    attempts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    variants: Type.Array(VariantView),
    links: Type.Object({ self: Type.String() }),
    ownerId: Type.Optional(
      Type.String({ description: 'Only in the admin listing, which spans owners' }),
    ),
  },
  { $id: 'Image' },
)

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

/** The error responses every authenticated route can give. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries([401, 403, 429, ...statuses].map((status) => [status, Type.Ref(Problem)]))
