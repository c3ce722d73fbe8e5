import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import parseRange from 'range-parser'
import {
  contentTypeOf,
  formatOfExtension,
  isOutputFormat,
  negotiateFormat,
  type OutputFormat,
} from '../../../domain/formats.js'
import type { Image, Variant } from '../../../domain/image.js'
import type { SignedQuery } from '../../../domain/signed-urls.js'
import { AppError } from '../../../errors/index.js'
import type { ImageService } from '../../../images/image-service.js'
import { PRESET_VERSION } from '../../../imaging/preset-version.js'
import type { ObjectStore } from '../../../storage/object-store.js'
import { canonicalOf } from '../../../transforms/options.js'
import type { TransformService } from '../../../transforms/transform-service.js'
import {
  assertVisible,
  cacheControl,
  type DeliverySigner,
  matchesEtag,
  pathOf,
  SignedQuerySchema,
  sendDerived,
  verifySignature,
} from './http-caching.js'

export interface GetVariantOptions {
  images: Pick<ImageService, 'getPublic'>
  signer: DeliverySigner
  store: Pick<ObjectStore, 'get'>
  /** Renders a configured preset the image was not processed with (added later, or AVIF). */
  transforms?: Pick<TransformService, 'presets' | 'plan' | 'assertRenderable' | 'deliver'>
}

const schema = {
  summary: 'Variant bytes',
  description:
    'A preset as `<preset>.<ext>` (that format), or `<preset>` alone: the format is negotiated from Accept (AVIF, WebP, JPEG) with `Vary: Accept`. A preset configured after the image was processed, or a format it was not processed in, is rendered on its first request and kept.',
  tags: ['delivery'],
  params: Type.Object({
    id: Type.String({ maxLength: 64 }),
    file: Type.String({
      maxLength: 64,
      description: '<preset>.<ext> or <preset>, e.g. thumb.webp',
    }),
  }),
  querystring: SignedQuerySchema,
}

/** GET /i/:id/:preset[.:ext]: CDN-ready delivery with ETag, 304 and Range; signed URLs for private images. */
export const getVariant: FastifyPluginAsyncTypebox<GetVariantOptions> = async (app, options) => {
  const { images, signer, store, transforms } = options
  app.get('/i/:id/:file', { schema }, async (request, reply) => {
    const { id, file } = request.params
    // A signature is checked before the image is looked up (nothing may be learnt without one).
    const signed = request.query.sig !== undefined
    if (signed) verifySignature(signer, pathOf(request.url), request.query)
    const wanted = parseFile(file, request.headers.accept)
    const image = await images.getPublic(id)
    assertVisible(image, signed)
    if (image.status === 'queued' || image.status === 'processing')
      throw new AppError('VARIANT_NOT_READY', `Image ${id} is still ${image.status}`)
    if (wanted.negotiated) reply.header('vary', 'Accept')
    const variant = image.variants.find((v) => v.name === wanted.name && v.format === wanted.format)
    // A version names the bytes of one setting of the preset: an older one is gone (reprocessed).
    if (wanted.version && variant?.version !== wanted.version)
      throw new AppError('VARIANT_NOT_FOUND', `Image ${id} has no variant ${file}`)
    reply.header('cache-control', variantCaching(signer, request.query, image, variant, wanted))
    if (variant) return sendVariant(store, request, reply, variant)
    const preset = transforms?.presets.find((p) => p.name === wanted.name)
    if (!transforms || !preset || !wanted.format)
      throw new AppError('VARIANT_NOT_FOUND', `Image ${id} has no variant ${file}`)
    return renderPreset(transforms, request, reply, image, {
      preset: preset.name,
      format: wanted.format,
    })
  })
}

interface WantedFile {
  name: string
  format: OutputFormat | null
  /** The preset version the URL names; null: whatever the preset's variant is now. */
  version: string | null
  negotiated: boolean
}

/**
 * `thumb.1a2b3c4d.webp` → that version in that format; `thumb.webp` → the current variant in
 * that format; `thumb` → the current variant in the format Accept prefers.
 */
function parseFile(file: string, accept: string | undefined): WantedFile {
  const [name = '', ...rest] = file.split('.')
  if (rest.length === 0)
    return { name, format: negotiateFormat(accept), version: null, negotiated: true }
  const extension = rest.pop() as string
  const version = rest.length === 1 && PRESET_VERSION.test(rest[0]!) ? rest[0]! : null
  if (name === '' || rest.length > (version ? 1 : 0))
    throw new AppError('VARIANT_NOT_FOUND', `There is no variant ${file}`)
  const format = formatOfExtension(extension)
  const output = format && isOutputFormat(format) ? format : null
  return { name, format: output, version, negotiated: false }
}

/**
 * A versioned URL's bytes never change: immutable (cacheControl). An unversioned one follows the
 * preset, which `pixelflow images reprocess` may change, so shared caches keep it an hour; a
 * variant from before versions existed keeps the immutable caching its URL was served with.
 */
function variantCaching(
  signer: DeliverySigner,
  query: SignedQuery,
  image: Image,
  variant: Variant | undefined,
  wanted: WantedFile,
): string {
  const policy = cacheControl(signer, query, image)
  if (image.visibility === 'private' || wanted.version || variant?.version === null) return policy
  return CURRENT_VARIANT
}

const CURRENT_VARIANT = 'public, max-age=3600'

function renderPreset(
  transforms: NonNullable<GetVariantOptions['transforms']>,
  request: FastifyRequest,
  reply: FastifyReply,
  image: Image,
  options: { preset: string; format: OutputFormat },
) {
  transforms.assertRenderable(image)
  const plan = transforms.plan(options, request.headers.accept, image)
  return sendDerived(reply, request.headers['if-none-match'], plan, () =>
    transforms.deliver(image, canonicalOf(options), plan),
  )
}

function sendVariant(
  store: GetVariantOptions['store'],
  request: FastifyRequest,
  reply: FastifyReply,
  variant: Variant,
) {
  reply
    .header('etag', variant.etag)
    .header('accept-ranges', 'bytes')
    .header('content-type', contentTypeOf(variant.format))
  if (matchesEtag(request.headers['if-none-match'], variant.etag)) return reply.code(304).send()
  return sendBytes(store, request, reply, variant)
}

async function sendBytes(
  store: GetVariantOptions['store'],
  request: FastifyRequest,
  reply: FastifyReply,
  variant: Variant,
) {
  const range = satisfiableRange(request, variant)
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${variant.bytes}`)
    throw new AppError('RANGE_NOT_SATISFIABLE', `The range is outside 0-${variant.bytes - 1}`)
  }
  const body = await store.get(variant.key, range ?? undefined)
  if (!body) throw new AppError('VARIANT_NOT_FOUND', 'The variant bytes are missing')
  if (!range) return reply.header('content-length', variant.bytes).send(body)
  return reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${variant.bytes}`)
    .header('content-length', range.end - range.start + 1)
    .send(body)
}

/** One satisfiable range → that range; none, malformed, several or a stale If-Range → the whole body. */
function satisfiableRange(
  request: FastifyRequest,
  variant: Variant,
): { start: number; end: number } | 'unsatisfiable' | null {
  const header = request.headers.range
  if (!header) return null
  const ifRange = request.headers['if-range']
  if (ifRange && ifRange !== variant.etag) return null
  const ranges = parseRange(variant.bytes, header, { combine: true })
  if (ranges === -1) return 'unsatisfiable'
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return null
  return ranges[0]!
}
