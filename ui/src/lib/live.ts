import { client } from './api.js'
import { store } from './store.js'

/** The newest status known for each image: from the event stream, a poll, or an upload's 202. */
export const statuses = store<ReadonlyMap<string, string>>(new Map())
/** How statuses arrive: the event stream, or polling when there is no stream. */
export const liveMode = store<'off' | 'live' | 'polling'>('off')

export function setStatus(id: string, status: string): void {
  if (statuses.get().get(id) === status) return
  statuses.update((current) => new Map(current).set(id, status))
}

const POLL_MS = 3_000
let stop: AbortController | null = null

/** Starts following the signed-in owner's images; stopped on sign-out. */
export function startLive(): void {
  stopLive()
  const controller = new AbortController()
  stop = controller
  follow(controller.signal).catch(() => {
    // No stream (a proxy that buffers, a server without /v1/events): poll instead.
    if (!controller.signal.aborted) poll(controller.signal)
  })
}

export function stopLive(): void {
  stop?.abort()
  stop = null
  liveMode.set('off')
  statuses.set(new Map())
}

async function follow(signal: AbortSignal): Promise<void> {
  liveMode.set('live')
  // The client reconnects with Last-Event-ID by itself; it throws only when no stream opens.
  for await (const event of client.events({ signal })) {
    const { imageId, status } = event.data
    if (!imageId) continue
    setStatus(imageId, event.type === 'image.deleted' ? 'deleted' : (status ?? 'unknown'))
  }
}

function poll(signal: AbortSignal): void {
  liveMode.set('polling')
  const tick = async () => {
    if (signal.aborted) return
    try {
      const page = await client.images.list({ limit: 100, signal })
      for (const image of page.items) setStatus(image.id, image.status)
    } catch {
      // The next tick tries again; the badges keep their last known status meanwhile.
    }
    setTimeout(tick, POLL_MS)
  }
  void tick()
}
