import { anySignal, sleep } from './backoff.js'
import { ImageFailedError, PixelflowError } from './errors.js'
import { connect } from './events.js'
import type { Transport } from './transport.js'
import type { Image } from './types.js'

export interface WaitOptions {
  /** Give up after this long (default 120 s) with a PixelflowError of code TIMEOUT. */
  timeoutMs?: number | undefined
  signal?: AbortSignal | undefined
}

type GetImage = (id: string, signal: AbortSignal) => Promise<Image>

const DEFAULT_TIMEOUT_MS = 120_000
const POLL_FIRST_MS = 250
const POLL_MAX_MS = 5_000

/**
 * Resolves with the image once it is ready; rejects with an ImageFailedError when it failed. It
 * listens on the live stream and reads the image once each time the stream (re)opens, so a change
 * that happened before the subscription is not missed. Without a stream (an older server, a
 * proxy that buffers, no network for it) it polls the image with backoff instead.
 */
export async function waitUntilReady(
  transport: Transport,
  getImage: GetImage,
  id: string,
  options: WaitOptions = {},
): Promise<Image> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const scope = anySignal([options.signal])
  const timer = setTimeout(
    () =>
      scope.abort(
        new PixelflowError({
          code: 'TIMEOUT',
          status: 0,
          detail: `Image ${id} was not ready within ${timeoutMs} ms`,
        }),
      ),
    timeoutMs,
  )
  const { signal } = scope
  try {
    return await viaEvents(transport, getImage, id, signal).catch((error: unknown) => {
      if (signal.aborted || !streamUnavailable(error)) throw error
      return viaPolling(getImage, id, signal)
    })
  } catch (error) {
    throw signal.aborted ? signal.reason : error
  } finally {
    clearTimeout(timer)
    scope.abort()
    scope.dispose()
  }
}

async function viaEvents(
  transport: Transport,
  getImage: GetImage,
  id: string,
  signal: AbortSignal,
): Promise<Image> {
  for await (const item of connect(transport, { signal })) {
    if (item.kind === 'event' && item.event.type !== 'reset') {
      if (item.event.data.imageId !== id) continue
      if (item.event.type === 'image.deleted') throw deleted(id)
    }
    // On open (the subscription is in place), on each event of this image, and after a reset
    // (events may have been missed): read the image once.
    const image = settled(await getImage(id, signal))
    if (image) return image
  }
  throw new PixelflowError({ code: 'NETWORK_ERROR', status: 0, detail: 'The event stream ended' })
}

async function viaPolling(getImage: GetImage, id: string, signal: AbortSignal): Promise<Image> {
  for (let delay = POLL_FIRST_MS; ; delay = Math.min(delay * 1.5, POLL_MAX_MS)) {
    const image = settled(await getImage(id, signal))
    if (image) return image
    await sleep(delay, signal)
  }
}

/** The image when it is ready; an ImageFailedError when it failed; undefined while it is not done. */
function settled(image: Image): Image | undefined {
  if (image.status === 'failed') throw new ImageFailedError(image)
  return image.status === 'ready' ? image : undefined
}

function deleted(id: string): PixelflowError {
  return new PixelflowError({
    code: 'IMAGE_NOT_FOUND',
    status: 404,
    detail: `Image ${id} was deleted while waiting for it`,
  })
}

/** No stream here: the route is missing or not implemented, or it never answered as one. */
function streamUnavailable(error: unknown): boolean {
  if (!(error instanceof PixelflowError) || error instanceof ImageFailedError) return false
  if (error.status === 405 || error.status === 501) return true
  return ['ROUTE_NOT_FOUND', 'NETWORK_ERROR', 'UNEXPECTED_RESPONSE'].includes(error.code)
}
