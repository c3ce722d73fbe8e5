import type { Image, Variant } from '../images/model.js'

/** URL extension of each stored format: `.jpg` is what people and CDNs expect. */
export const URL_EXTENSION: Record<string, string> = { jpeg: 'jpg', webp: 'webp', avif: 'avif', png: 'png' }
export const FORMAT_OF_EXTENSION: Record<string, string> = { jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp', avif: 'avif', png: 'png' }

export function variantUrl(baseUrl: string, imageId: string, variant: Pick<Variant, 'name' | 'format'>): string {
  return `${baseUrl}/i/${imageId}/${variant.name}.${URL_EXTENSION[variant.format] ?? variant.format}`
}

/** The public shape of an image in API responses. */
export function imageView(image: Image, baseUrl: string) {
  return {
    id: image.id,
    status: image.status,
    format: image.format,
    width: image.width,
    height: image.height,
    bytes: image.bytes,
    frames: image.frames,
    sha256: image.sha256,
    placeholder: image.placeholder,
    failure: image.failure,
    /** Worker starts on this image: more than 1 after a crash, a timeout or a retry. */
    attempts: image.attempts,
    createdAt: new Date(image.createdAt).toISOString(),
    updatedAt: new Date(image.updatedAt).toISOString(),
    variants: image.variants.map((v) => ({
      name: v.name,
      format: v.format,
      width: v.width,
      height: v.height,
      bytes: v.bytes,
      url: variantUrl(baseUrl, image.id, v),
    })),
    links: { self: `${baseUrl}/v1/images/${image.id}` },
  }
}
