import type { Image } from '@pixelflow/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { Picture } from '../components/Picture.js'
import { StatusBadge } from '../components/StatusBadge.js'
import { client, messageOf } from '../lib/api.js'
import { statuses } from '../lib/live.js'
import { Link } from '../lib/router.js'
import { useStore } from '../lib/store.js'

const PAGE = 24
const FILTERS = ['all', 'queued', 'processing', 'ready', 'failed'] as const

/** The owner's images, newest first, a page more each time the end of the list comes into view. */
export function Gallery() {
  const feed = useFeed()
  const [filter, setFilter] = useState<(typeof FILTERS)[number]>('all')
  const shown = filter === 'all' ? feed.images : feed.images.filter((i) => i.status === filter)
  return (
    <main id="main">
      <h1 tabIndex={-1}>Gallery</h1>
      <label class="filter">
        Status{' '}
        <select
          value={filter}
          onChange={(e) => setFilter((e.currentTarget as HTMLSelectElement).value as never)}
        >
          {FILTERS.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
      </label>
      <ul class="gallery">
        {shown.map((image) => (
          <Tile key={image.id} image={image} />
        ))}
      </ul>
      {feed.error && (
        <p class="error" role="alert">
          {feed.error}
        </p>
      )}
      {feed.done && shown.length === 0 && <p>No images{filter === 'all' ? '' : ` ${filter}`}.</p>}
      {!feed.done && <Sentinel onVisible={feed.more} />}
    </main>
  )
}

function Tile({ image }: { image: Image }) {
  const thumb =
    image.variants.find((v) => v.name === 'thumb' && v.format === 'webp') ?? image.variants[0]
  return (
    <li class="tile" data-id={image.id}>
      <Link to={`images/${image.id}`}>
        <Picture
          src={thumb?.url ?? null}
          alt={`Image ${image.id}`}
          placeholder={image.placeholder}
          width={thumb?.width}
          height={thumb?.height}
        />
        <StatusBadge status={image.status} />
      </Link>
    </li>
  )
}

/** Calls onVisible whenever the end of the list scrolls into view (or is in view after a load). */
function Sentinel({ onVisible }: { onVisible: () => void }) {
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) onVisible()
    })
    observer.observe(ref.current!)
    return () => observer.disconnect()
  }, [onVisible])
  return (
    <div ref={ref} class="sentinel">
      Loading…
    </div>
  )
}

/**
 * Pages of the listing, kept up to date by the live statuses: an image whose status changed is
 * read again (its variants appear when it is ready), one the list has not seen (just uploaded)
 * is read and put first, a deleted one leaves.
 */
function useFeed() {
  const [images, setImages] = useState<Image[]>([])
  const [error, setError] = useState<string | null>(null)
  const cursor = useRef<string | null | undefined>(undefined)
  const loading = useRef(false)
  const [done, setDone] = useState(false)
  const live = useStore(statuses)

  const more = useRef(async () => {
    if (loading.current || cursor.current === null) return
    loading.current = true
    try {
      const page = await client.images.list({ limit: PAGE, cursor: cursor.current })
      cursor.current = page.nextCursor ?? null
      setImages((known) => merge(known, page.items as Image[]))
      if (cursor.current === null) setDone(true)
    } catch (failure) {
      setError(messageOf(failure))
    } finally {
      loading.current = false
    }
  }).current

  useEffect(() => {
    // Before the first page there is nothing to place an image against: the page brings them.
    if (cursor.current === undefined) return
    for (const [id, status] of live) {
      const known = images.find((i) => i.id === id)
      if (status === 'deleted') {
        if (known) setImages((list) => list.filter((i) => i.id !== id))
      } else if (known ? known.status !== status : cursor.current === null || isNewer(id, images)) {
        client.images.get(id).then(
          (image) => setImages((list) => upsert(list, image)),
          () => undefined,
        )
      }
    }
  }, [live, images.length === 0])

  return { images, error, done, more }
}

function merge(known: Image[], page: Image[]): Image[] {
  const seen = new Set(known.map((i) => i.id))
  return newestFirst([...known, ...page.filter((i) => !seen.has(i.id))])
}

/** Replaces the image, or adds it where its time puts it (one read by a live event). */
function upsert(list: Image[], image: Image): Image[] {
  return list.some((i) => i.id === image.id)
    ? list.map((i) => (i.id === image.id ? image : i))
    : newestFirst([image, ...list])
}

/**
 * Ids start with their time, so an unknown id after the newest listed is a new image (put it
 * first); one before it may belong to a page not loaded yet, which will bring it. Once every
 * page is loaded any unknown id is read (uploads commit in any order).
 */
function isNewer(id: string, list: Image[]): boolean {
  return list.length === 0 || id > list[0]!.id
}

/** The listing's order: images read one by one (new uploads) may arrive in any order. */
function newestFirst(list: Image[]): Image[] {
  return list.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
}
