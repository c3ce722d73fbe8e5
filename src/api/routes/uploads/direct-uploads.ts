import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Principal } from '../../../auth/principal.js'
import type { DirectUploads } from '../../../uploads/direct-uploads.js'
import type { Uploader } from '../../../uploads/types.js'
import { principalOf } from '../../authenticate.js'
import { ImageView, problems } from '../../schemas.js'
import { imageView, type Links } from '../../views.js'

export interface DirectUploadRoutesOptions {
  direct: DirectUploads
  uploaderOf: (principal: Principal) => Uploader
  links: Links
}

const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')])

const createSchema = {
  summary: 'Announce a direct-to-S3 upload: answers a presigned PUT (S3 storage only)',
  tags: ['uploads'],
  body: Type.Object(
    {
      contentType: Type.String({ maxLength: 100, description: 'e.g. image/jpeg' }),
      bytes: Type.Integer({ minimum: 1, description: 'The exact size of the file' }),
      visibility: Type.Optional(Visibility),
      idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    },
    { additionalProperties: false },
  ),
  response: {
    201: Type.Object({
      id: Type.String(),
      expiresAt: Type.String({ format: 'date-time', description: 'Complete before this' }),
      upload: Type.Object({
        method: Type.Literal('PUT'),
        url: Type.String(),
        headers: Type.Record(Type.String(), Type.String(), {
          description: 'Send exactly these headers with the PUT: they are signed',
        }),
        expiresAt: Type.String({ format: 'date-time' }),
      }),
      links: Type.Object({ complete: Type.String() }),
    }),
    ...problems(400, 413, 415, 501),
  },
}

const completeSchema = {
  summary: 'Complete a direct upload: the object is checked and becomes an image (202)',
  tags: ['uploads'],
  params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
  response: { 202: ImageView, ...problems(404, 409, 410, 415, 422) },
}

/** POST /v1/uploads and POST /v1/uploads/:id/complete: uploads that go straight to the bucket. */
export const directUploadRoutes: FastifyPluginAsyncTypebox<DirectUploadRoutesOptions> = async (
  app,
  { direct, uploaderOf, links },
) => {
  const config = { scope: 'images:upload', rateClass: 'upload' } as const
  app.post('/uploads', { schema: createSchema, config }, async (request, reply) => {
    const created = await direct.create(uploaderOf(principalOf(request)), request.body)
    return reply.code(201).send({
      id: created.id,
      expiresAt: new Date(created.expiresAt).toISOString(),
      upload: { ...created.upload, expiresAt: new Date(created.upload.expiresAt).toISOString() },
      links: { complete: `${links.base}/v1/uploads/${created.id}/complete` },
    })
  })
  app.post('/uploads/:id/complete', { schema: completeSchema, config }, async (request, reply) => {
    const { image } = await direct.complete(principalOf(request).ownerId, request.params.id)
    const view = imageView(image, links)
    return reply.code(202).header('location', view.links.self).send(view)
  })
}
