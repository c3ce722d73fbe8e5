import type { InputFormat, OutputFormat } from './formats.js'

export type ImageStatus = 'queued' | 'processing' | 'ready' | 'failed'

export interface Variant {
  name: string
  format: OutputFormat
  width: number
  height: number
  bytes: number
  etag: string
  key: string
}

export type Visibility = 'public' | 'private'

export interface Image {
  id: string
  ownerId: string
  /** Private images are delivered only through signed, expiring URLs. */
  visibility: Visibility
  bucket: number
  status: ImageStatus
  format: InputFormat
  width: number
  height: number
  frames: number
  bytes: number
  sha256: string
  placeholder: string | null
  failure: { code: string; detail: string } | null
  attempts: number
  createdAt: number
  updatedAt: number
  variants: Variant[]
}

/** What the upload use case knows when it commits an image row. */
export type NewImage = Pick<
  Image,
  | 'id'
  | 'ownerId'
  | 'visibility'
  | 'bucket'
  | 'format'
  | 'width'
  | 'height'
  | 'frames'
  | 'bytes'
  | 'sha256'
> & {
  idempotencyKey: string | null
}

/** The payload of a `process-image` job. */
export interface ProcessImageJob {
  imageId: string
}

/** Object keys are deterministic, so a redelivered job overwrites rather than duplicates. */
export const objectKeys = {
  prefix: (imageId: string) => `images/${imageId}/`,
  original: (imageId: string) => `images/${imageId}/original`,
  variant: (imageId: string, name: string, format: string) => `images/${imageId}/${name}.${format}`,
}
