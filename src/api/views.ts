import { type Image, type Variant, variantPath } from '../domain/image.js'
import type { UrlSigner } from '../domain/signed-urls.js'
import type { ImagePageBody, ImageViewBody } from './schemas.js'

/** Absolute links; a private image's variant links are signed afresh on every read. */
export function createLinks(baseUrl: string, signer: UrlSigner) {
  return {
    /** The public origin, for links to routes other than images'. */
    base: baseUrl,
    image: (id: string) => `${baseUrl}/v1/images/${id}`,
    list: (query: string, path = '/v1/images') => `${baseUrl}${path}?${query}`,
    variant(image: Image, variant: Variant): string {
      const path = variantPath(image.id, variant)
      return baseUrl + (image.visibility === 'private' ? signer.sign(path) : path)
    },
  }
}

export type Links = ReturnType<typeof createLinks>

/** The public shape of an image in API responses; the schema's key order is the JSON's. */
export function imageView(image: Image, links: Links): ImageViewBody {
  return {
    id: image.id,
    status: image.status,
    visibility: image.visibility,
    format: image.format,
    width: image.width,
    height: image.height,
    bytes: image.bytes,
    frames: image.frames,
    sha256: image.sha256,
    placeholder: image.placeholder,
    dominantColor: image.dominantColor,
    focalPoint: image.focalPoint,
    failure: image.failure,
    attempts: image.attempts,
    createdAt: new Date(image.createdAt).toISOString(),
    updatedAt: new Date(image.updatedAt).toISOString(),
    variants: image.variants.map((v) => ({
      name: v.name,
      format: v.format,
      width: v.width,
      height: v.height,
      bytes: v.bytes,
      url: links.variant(image, v),
    })),
    links: { self: links.image(image.id) },
  }
}

/** A listing page with its cursor and next link; `withOwner` for listings that span owners. */
export function pageView(
  page: { images: Image[]; next: string | null },
  limit: number,
  links: Links,
  path?: string,
  withOwner = false,
): ImagePageBody {
  return {
    items: page.images.map((image) => ({
      ...imageView(image, links),
      ...(withOwner ? { ownerId: image.ownerId } : {}),
    })),
    nextCursor: page.next,
    links: page.next ? { next: links.list(`limit=${limit}&cursor=${page.next}`, path) } : {},
  }
}
