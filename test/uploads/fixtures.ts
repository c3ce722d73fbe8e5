import { existsSync, readFileSync } from 'node:fs'
import { Upload } from 'tus-js-client'
import { makeJpeg } from '../fixtures/images.js'

/** A corpus photo (the shared corpus), or one made here when the corpus is absent. */
export async function photo(name: string): Promise<Buffer> {
  const path = `/work/shared/corpus/photos/${name}`
  return existsSync(path) ? readFileSync(path) : makeJpeg(1600, 1200)
}

export interface TusResult {
  url: string
  status: number
  headers: Record<string, string | undefined>
  body: string
}

export interface TusOptions {
  endpoint: string
  token: string
  chunkSize?: number
  metadata?: Record<string, string>
  headers?: Record<string, string>
  retryDelays?: number[]
  onProgress?: (sent: number, total: number) => void
  onRetry?: () => void
}

/** One upload with the real tus-js-client; resolves with the last response, rejects on error. */
export function tusUpload(bytes: Buffer, options: TusOptions): Promise<TusResult> {
  return new Promise((resolve, reject) => {
    const upload = new Upload(bytes, {
      endpoint: options.endpoint,
      headers: { authorization: `Bearer ${options.token}`, ...options.headers },
      chunkSize: options.chunkSize ?? Number.POSITIVE_INFINITY,
      retryDelays: options.retryDelays ?? [],
      metadata: options.metadata ?? { filetype: 'image/jpeg', filename: 'photo.jpg' },
      onProgress: options.onProgress ?? null,
      onShouldRetry: (error) => {
        const status = error.originalResponse?.getStatus() ?? 0
        const retry = status === 0 || status >= 500 || status === 423 || status === 409
        if (retry) options.onRetry?.()
        return retry
      },
      onSuccess: ({ lastResponse }) =>
        resolve({
          url: upload.url as string,
          status: lastResponse.getStatus(),
          headers: {
            'pixelflow-image-id': lastResponse.getHeader('pixelflow-image-id'),
            'content-type': lastResponse.getHeader('content-type'),
          },
          body: lastResponse.getBody(),
        }),
      onError: reject,
    })
    upload.start()
  })
}

/** The refusal a tus upload ended with: its status and problem body. */
export function refusalOf(error: unknown): { status: number; body: any } {
  const response = (error as { originalResponse?: { getStatus(): number; getBody(): string } })
    .originalResponse
  if (!response) throw error
  return { status: response.getStatus(), body: JSON.parse(response.getBody()) }
}
