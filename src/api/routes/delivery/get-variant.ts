import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import parseRange from 'range-parser'
import { AppError } from '../../../errors/index.js'
import type { Variant } from '../../../images/model.js'
import { CONTENT_TYPES } from '../../../worker/pipeline/encode.js'
import type { AppDeps } from '../../deps.js'
import { FORMAT_OF_EXTENSION } from '../../views.js'

/** A variant's bytes never change for its URL, so any cache may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** GET /i/:id/:variant.:ext: CDN-ready delivery with ETag, 304 and Range. */
export function getVariant(app: FastifyInstance, deps: AppDeps): void {
  app.get<{ Params: { id: string; file: string } }>('/i/:id/:file', async (request, reply) => {
    const variant = await findVariant(deps, request.params.id, request.params.file)
    reply.header('etag', variant.etag).header('cache-control', IMMUTABLE).header('accept-ranges', 'bytes')
    reply.header('x-content-type-options', 'nosniff').header('content-type', CONTENT_TYPES[variant.format as 'webp'])
    if (matchesEtag(request.headers['if-none-match'], variant.etag)) return reply.code(304).send()
    return sendBytes(deps, request, reply, variant)
  })
}

async function findVariant(deps: AppDeps, id: string, file: string): Promise<Variant> {
  const dot = file.lastIndexOf('.')
  const name = file.slice(0, dot)
  const format = FORMAT_OF_EXTENSION[file.slice(dot + 1)]
  const image = await deps.images.getPublic(id)
  if (image.status === 'queued' || image.status === 'processing') {
    throw new AppError('VARIANT_NOT_READY', `Image ${id} is still ${image.status}`)
  }
  const variant = image.variants.find((v) => v.name === name && v.format === format)
  if (dot < 1 || !variant) throw new AppError('VARIANT_NOT_FOUND', `Image ${id} has no variant ${file}`)
  return variant
}

async function sendBytes(deps: AppDeps, request: FastifyRequest, reply: FastifyReply, variant: Variant) {
  const range = satisfiableRange(request, variant)
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${variant.bytes}`)
    throw new AppError('RANGE_NOT_SATISFIABLE', `The range is outside 0-${variant.bytes - 1}`)
  }
  const body = await deps.store.get(variant.key, range ?? undefined)
  if (!body) throw new AppError('VARIANT_NOT_FOUND', 'The variant bytes are missing')
  if (!range) return reply.header('content-length', variant.bytes).send(body)
  return reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${variant.bytes}`)
    .header('content-length', range.end - range.start + 1)
    .send(body)
}

/** One satisfiable range → that range; none, malformed, several or a stale If-Range → the whole body. */
function satisfiableRange(request: FastifyRequest, variant: Variant): { start: number; end: number } | 'unsatisfiable' | null {
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
