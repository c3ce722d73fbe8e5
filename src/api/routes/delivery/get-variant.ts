import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import parseRange from 'range-parser'
import { contentTypeOf, formatOfExtension } from '../../../domain/formats.js'
import type { Image, Variant } from '../../../domain/image.js'
import type { SignedQuery, UrlSigner } from '../../../domain/signed-urls.js'
import { AppError } from '../../../errors/index.js'
import type { ImageService } from '../../../images/image-service.js'
import type { ObjectStore } from '../../../storage/object-store.js'

export interface GetVariantOptions {
  images: Pick<ImageService, 'getPublic'>
  signer: Pick<UrlSigner, 'verify' | 'remainingSeconds'>
  store: Pick<ObjectStore, 'get'>
}

/** A public variant's bytes never change for its URL, so any cache may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

const schema = {
  summary: 'Variant bytes',
  tags: ['delivery'],
  params: Type.Object({
    id: Type.String({ maxLength: 64 }),
    file: Type.String({ maxLength: 64, description: '<variant>.<ext>, e.g. thumb.webp' }),
  }),
  querystring: Type.Object({
    exp: Type.Optional(Type.String()),
    kid: Type.Optional(Type.String()),
    sig: Type.Optional(Type.String()),
  }),
}

/** GET /i/:id/:variant.:ext: CDN-ready delivery with ETag, 304 and Range; signed URLs for private images. */
export const getVariant: FastifyPluginAsyncTypebox<GetVariantOptions> = async (
  app,
  { images, signer, store },
) => {
  app.get('/i/:id/:file', { schema }, async (request, reply) => {
    const { id, file } = request.params
    const path = request.url.split('?')[0]!
    // A signature is checked before the image is looked up, and an unsigned request finds no
    // private image: neither may learn whether a private image exists, its status or variants.
    const signed = request.query.sig !== undefined
    if (signed) verifySignature(signer, path, request.query)
    const { image, variant } = await findVariant(images, id, file, signed)
    reply.header('cache-control', cacheControl(signer, request.query, image))
    reply
      .header('etag', variant.etag)
      .header('accept-ranges', 'bytes')
      .header('content-type', contentTypeOf(variant.format))
    if (matchesEtag(request.headers['if-none-match'], variant.etag)) return reply.code(304).send()
    return sendBytes(store, request, reply, variant)
  })
}

function verifySignature(
  signer: GetVariantOptions['signer'],
  path: string,
  query: SignedQuery,
): void {
  const check = signer.verify(path, query)
  if (check === 'expired') throw new AppError('URL_EXPIRED', 'This signed URL has expired')
  if (check === 'invalid')
    throw new AppError('SIGNATURE_INVALID', 'A private image needs a valid signed URL')
}

/** Public: immutable for a year. Private (reached only with a verified signature): cacheable only by the browser until it expires. */
function cacheControl(
  signer: GetVariantOptions['signer'],
  query: SignedQuery,
  image: Image,
): string {
  if (image.visibility === 'public') return IMMUTABLE
  return `private, max-age=${signer.remainingSeconds(query)}`
}

async function findVariant(
  images: GetVariantOptions['images'],
  id: string,
  file: string,
  signed: boolean,
): Promise<{ image: Image; variant: Variant }> {
  const dot = file.lastIndexOf('.')
  const name = file.slice(0, dot)
  const format = formatOfExtension(file.slice(dot + 1))
  const image = await images.getPublic(id)
  if (image.visibility === 'private' && !signed)
    throw new AppError('IMAGE_NOT_FOUND', `No image ${id}`)
  if (image.status === 'queued' || image.status === 'processing') {
    throw new AppError('VARIANT_NOT_READY', `Image ${id} is still ${image.status}`)
  }
  const variant = image.variants.find((v) => v.name === name && v.format === format)
  if (dot < 1 || !variant)
    throw new AppError('VARIANT_NOT_FOUND', `Image ${id} has no variant ${file}`)
  return { image, variant }
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

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  const strip = (tag: string) => tag.trim().replace(/^W\//, '')
  return header.split(',').some((tag) => strip(tag) === strip(etag))
}
