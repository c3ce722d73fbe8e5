import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { TransformSigner } from '../../../domain/signed-urls.js'
import { AppError } from '../../../errors/index.js'
import type { ImageService } from '../../../images/image-service.js'
import {
  isUnsignedPreset,
  type ParsedOptions,
  parseOptions,
  transformPath,
} from '../../../transforms/options.js'
import type { TransformService } from '../../../transforms/transform-service.js'
import {
  assertVisible,
  cacheControl,
  type DeliverySigner,
  pathOf,
  SignedQuerySchema,
  sendDerived,
  verifySignature,
} from './http-caching.js'

export interface GetTransformOptions {
  images: Pick<ImageService, 'getPublic'>
  /** Private images' expiring URLs (the query's exp, kid, sig). */
  signer: DeliverySigner
  /** The path segment's signature over the canonical options. */
  transformSigner: Pick<TransformSigner, 'verify'>
  transforms: Pick<TransformService, 'plan' | 'assertRenderable' | 'deliver'>
  /** Presets that may be asked for with `_` in place of a signature. */
  unsignedPresets: readonly string[]
}

/** The signature segment that stands for "none": only for a listed preset. */
const UNSIGNED = '_'

const schema = {
  summary: 'On-the-fly transform',
  description:
    'Renders the stored original with the options (docs/delivery.md), keeps the result, and serves it like a variant. `signature` is the HMAC of `/t/<canonical options>/<id>`; `_` is accepted for presets listed in PIXELFLOW_UNSIGNED_PRESETS. Without a format (no `f:` option, no extension) the format is negotiated from Accept.',
  tags: ['delivery'],
  params: Type.Object({
    signature: Type.String({ maxLength: 64 }),
    options: Type.String({ maxLength: 512, description: 'e.g. w:512,h:512,fit:cover,g:attention' }),
    file: Type.String({ maxLength: 64, description: '<image id>[.<ext>]' }),
  }),
  querystring: SignedQuerySchema,
}

/** GET /t/:signature/:options/:id[.:ext] */
export const getTransform: FastifyPluginAsyncTypebox<GetTransformOptions> = async (app, deps) => {
  const { images, signer, transforms } = deps
  app.get('/t/:signature/:options/:file', { schema }, async (request, reply) => {
    const { signature, options: segment, file } = request.params
    const dot = file.indexOf('.')
    const id = dot < 0 ? file : file.slice(0, dot)
    const parsed = parseOptions(segment, dot < 0 ? undefined : file.slice(dot + 1))
    // Both signatures before the lookup: nothing about an image is learnt without them.
    verifyTransform(deps, signature, parsed, id)
    const signed = request.query.sig !== undefined
    if (signed) verifySignature(signer, pathOf(request.url), request.query)
    const image = await images.getPublic(id)
    assertVisible(image, signed)
    transforms.assertRenderable(image)
    const plan = transforms.plan(parsed.options, request.headers.accept, image)
    reply.header('cache-control', cacheControl(signer, request.query, image))
    if (parsed.options.format === undefined) reply.header('vary', 'Accept')
    return sendDerived(reply, request.headers['if-none-match'], plan, () =>
      transforms.deliver(image, parsed.canonical, plan),
    )
  })
}

function verifyTransform(
  deps: GetTransformOptions,
  signature: string,
  parsed: ParsedOptions,
  id: string,
): void {
  if (signature === UNSIGNED) {
    if (isUnsignedPreset(parsed.options, deps.unsignedPresets)) return
    throw new AppError(
      'SIGNATURE_INVALID',
      'Only a preset listed in PIXELFLOW_UNSIGNED_PRESETS may be asked for without a signature',
    )
  }
  if (!deps.transformSigner.verify(transformPath(parsed.canonical, id), signature))
    throw new AppError('SIGNATURE_INVALID', 'The transform signature does not match its options')
}
