import { client, messageOf } from './api.js'
import { setStatus } from './live.js'
import { store } from './store.js'

export interface UploadItem {
  key: number
  name: string
  size: number
  loaded: number
  state: 'waiting' | 'sending' | 'accepted' | 'refused'
  /** The server's problem detail when it refused the file. */
  detail?: string
  imageId?: string
}

/**
 * The upload queue. It lives outside every screen, so uploads go on while the user browses;
 * a few at a time, since one owner's uploads in flight are limited on the server too.
 */
export const uploads = store<readonly UploadItem[]>([])

const CONCURRENCY = 3
const files = new Map<number, File>()
let nextKey = 1
let active = 0

export function addFiles(list: Iterable<File>): void {
  const added: UploadItem[] = []
  for (const file of list) {
    const key = nextKey++
    files.set(key, file)
    added.push({ key, name: file.name, size: file.size, loaded: 0, state: 'waiting' })
  }
  uploads.update((items) => [...items, ...added])
  pump()
}

/** Forgets the finished rows (accepted or refused); waiting and running ones stay. */
export function clearFinished(): void {
  uploads.update((items) => items.filter((i) => i.state === 'waiting' || i.state === 'sending'))
}

/** Bytes sent of all the files in the list, for the overall bar. */
export function overall(items: readonly UploadItem[]): { loaded: number; total: number } {
  let loaded = 0
  let total = 0
  for (const item of items) {
    total += item.size
    loaded += item.state === 'waiting' ? 0 : item.state === 'sending' ? item.loaded : item.size
  }
  return { loaded, total }
}

function patch(key: number, change: Partial<UploadItem>): void {
  uploads.update((items) => items.map((i) => (i.key === key ? { ...i, ...change } : i)))
}

function pump(): void {
  while (active < CONCURRENCY) {
    const next = uploads.get().find((i) => i.state === 'waiting')
    if (!next) return
    active++
    patch(next.key, { state: 'sending' })
    void send(next.key).finally(() => {
      active--
      pump()
    })
  }
}

async function send(key: number): Promise<void> {
  const file = files.get(key)!
  files.delete(key)
  try {
    const image = await client.upload(file, {
      onProgress: ({ loaded }) => patch(key, { loaded }),
    })
    setStatus(image.id, image.status)
    patch(key, { state: 'accepted', loaded: file.size, imageId: image.id })
  } catch (error) {
    patch(key, { state: 'refused', detail: messageOf(error) })
  }
}
