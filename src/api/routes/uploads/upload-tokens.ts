import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { UploadTokenService } from '../../../uploads/upload-token-service.js'
import { principalOf } from '../../authenticate.js'
import { problems } from '../../schemas.js'

export interface UploadTokenRoutesOptions {
  tokens: Pick<UploadTokenService, 'mint'>
}

const schema = {
  summary: 'Mint a short-lived upload token for a browser (it can upload, nothing else)',
  tags: ['uploads'],
  body: Type.Object(
    {
      maxBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Per upload' })),
      maxUploads: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
      expiresInSeconds: Type.Optional(
        Type.Integer({ minimum: 1, description: 'At most PIXELFLOW_UPLOAD_TOKEN_MAX_TTL_SECONDS' }),
      ),
      visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')])),
    },
    { additionalProperties: false },
  ),
  response: {
    201: Type.Object({
      token: Type.String({ description: 'Authorization: Bearer <token>' }),
      tokenId: Type.String(),
      expiresAt: Type.String({ format: 'date-time' }),
    }),
    ...problems(400),
  },
}

/**
 * POST /v1/upload-tokens: a backend holding a key mints a token for one of its users' browsers.
 * It needs `images:write`, which an upload token does not hold: a token cannot mint another.
 */
export const uploadTokenRoutes: FastifyPluginAsyncTypebox<UploadTokenRoutesOptions> = async (
  app,
  { tokens },
) => {
  app.post(
    '/upload-tokens',
    { schema, config: { scope: 'images:write', rateClass: 'read' } },
    async (request, reply) => {
      const minted = await tokens.mint(principalOf(request).ownerId, request.body)
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          token: minted.token,
          tokenId: minted.tokenId,
          expiresAt: new Date(minted.expiresAt).toISOString(),
        })
    },
  )
}
