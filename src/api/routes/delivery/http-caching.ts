import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { contentTypeOf, type OutputFormat } from '../../../domain/formats.js'
import type { Image } from '../../../domain/image.js'
import type { SignedQuery, UrlSigner } from '../../../domain/signed-urls.js'
import { AppError } from '../../../errors/index.js'
import type { DerivedResult } from '../../../transforms/derived.js'

/** What both delivery routes (stored variants, transforms) share: signatures, caching, 304. */
export type DeliverySigner = Pick<UrlSigner, 'verify' | 'remainingSeconds'>

/** A public result's bytes never change for its URL, so any cache may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** The expiring signature of a private image's URL, as query parameters. */
export const SignedQuerySchema = Type.Object({
  exp: Type.Optional(Type.String()),
  kid: Type.Optional(Type.String()),
  sig: Type.Optional(Type.String()),
})

/** The request path without its query: what a private URL's signature covers. */
export function pathOf(url: string): string {
  return url.split('?')[0]!
}

export function verifySignature(signer: DeliverySigner, path: string, query: SignedQuery): void {
  const check = signer.verify(path, query)
  if (check === 'expired') throw new AppError('URL_EXPIRED', 'This signed URL has expired')
  if (check === 'invalid')
    throw new AppError('SIGNATURE_INVALID', 'A private image needs a valid signed URL')
}

/**
 * An unsigned request finds no private image, exactly as a missing one: it may not learn that a
 * private image exists, nor its status or variants.
 */
export function assertVisible(image: Image, signed: boolean): void {
  if (image.visibility === 'private' && !signed)
    throw new AppError('IMAGE_NOT_FOUND', `No image ${image.id}`)
}

/** Public: immutable for a year. Private (reached only with a verified signature): cacheable only by the browser until it expires. */
export function cacheControl(signer: DeliverySigner, query: SignedQuery, image: Image): string {
  if (image.visibility === 'public') return IMMUTABLE
  return `private, max-age=${signer.remainingSeconds(query)}`
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  const strip = (tag: string) => tag.trim().replace(/^W\//, '')
  return header.split(',').some((tag) => strip(tag) === strip(etag))
}

/**
 * Sends a derived (transformed) result: its ETag is the render plan's digest, known before any
 * I/O, so a revalidation is a 304 without touching the store.
 */
export async function sendDerived(
  reply: FastifyReply,
  ifNoneMatch: string | undefined,
  result: { digest: string; format: OutputFormat },
  load: () => Promise<DerivedResult>,
) {
  const etag = `"${result.digest}"`
  reply.header('etag', etag).header('content-type', contentTypeOf(result.format))
  if (matchesEtag(ifNoneMatch, etag)) return reply.code(304).send()
  const { body } = await load()
  if (Buffer.isBuffer(body)) reply.header('content-length', body.length)
  return reply.send(body)
}
