import type { Image, Variant } from '@pixelflow/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { Picture } from '../components/Picture.js'
import { Playground } from '../components/Playground.js'
import { StatusBadge } from '../components/StatusBadge.js'
import { client, messageOf } from '../lib/api.js'
import { bytes, when } from '../lib/format.js'
import { setStatus, statuses } from '../lib/live.js'
import { navigate } from '../lib/router.js'
import { useStore } from '../lib/store.js'

/** One image: its variants side by side, its metadata, a transform playground, delete. */
export function ImagePage({ id }: { id: string }) {
  const [image, setImage] = useState<Image | null>(null)
  const [error, setError] = useState<string | null>(null)
  const live = useStore(statuses).get(id)
  useEffect(() => {
    // Read again on every status change; a deleted image (deleted here, too) is not asked for.
    if (live === 'deleted') return setImage(null)
    client.images.get(id).then(setImage, (failure) => setError(messageOf(failure)))
  }, [id, live])
  return (
    <main id="main">
      <h1 tabIndex={-1}>Image {id}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {image && <Details image={image} />}
    </main>
  )
}

function Details({ image }: { image: Image }) {
  return (
    <>
      <p>
        <StatusBadge status={image.status} />
        {image.failure && ` ${image.failure.code}: ${image.failure.detail}`}
      </p>
      <section aria-labelledby="variants-title">
        <h2 id="variants-title">Variants</h2>
        {image.variants.length === 0 && <p>None yet: they appear when the image is ready.</p>}
        <ul class="variants">
          {image.variants.map((v) => (
            <VariantCard key={v.url} image={image} variant={v} />
          ))}
        </ul>
      </section>
      <Metadata image={image} />
      {image.status === 'ready' && <Playground image={image} />}
      <DeleteImage id={image.id} />
    </>
  )
}

function VariantCard({ image, variant: v }: { image: Image; variant: Variant }) {
  const [copied, setCopied] = useState<string | null>(null)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(v.url)
      setCopied('Copied')
    } catch (failure) {
      setCopied(`Not copied: ${messageOf(failure)}`)
    }
  }
  const label = `${v.name} ${v.format}`
  return (
    <li class="variant" data-variant={`${v.name}.${v.format}`}>
      <Picture
        src={v.url}
        alt={`${label} of ${image.id}`}
        placeholder={image.placeholder}
        width={v.width}
        height={v.height}
      />
      <p>
        <strong>{v.name}</strong> {v.format} · {v.width}×{v.height} · {bytes(v.bytes)}
      </p>
      <input readOnly value={v.url} aria-label={`URL of ${label}`} />
      <button type="button" onClick={copy}>
        Copy URL <span class="visually-hidden">of {label}</span>
      </button>
      <span role="status">{copied}</span>
    </li>
  )
}

function Metadata({ image }: { image: Image }) {
  const rows: [string, string][] = [
    ['Dimensions', image.width ? `${image.width}×${image.height}` : '—'],
    ['Format', image.format ?? '—'],
    ['Size', bytes(image.bytes)],
    ['Frames', String(image.frames ?? '—')],
    ['Visibility', image.visibility],
    ['SHA-256', image.sha256 ?? '—'],
    ['Dominant colour', image.dominantColor ?? '—'],
    ['Uploaded', when(image.createdAt)],
    ['Updated', when(image.updatedAt)],
    ['Attempts', String(image.attempts ?? 0)],
  ]
  return (
    <section aria-labelledby="meta-title">
      <h2 id="meta-title">Metadata</h2>
      <dl class="metadata">
        {rows.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  )
}

/** Delete behind a confirmation dialog (a real <dialog>: focus moves in, Escape cancels). */
function DeleteImage({ id }: { id: string }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [error, setError] = useState<string | null>(null)
  const confirm = async () => {
    try {
      await client.images.delete(id)
      setStatus(id, 'deleted')
      dialog.current?.close()
      navigate('gallery')
    } catch (failure) {
      setError(messageOf(failure))
    }
  }
  return (
    <section aria-labelledby="delete-title">
      <h2 id="delete-title">Delete</h2>
      <button type="button" class="danger" onClick={() => dialog.current?.showModal()}>
        Delete this image
      </button>
      <dialog ref={dialog} aria-labelledby="confirm-title">
        <h3 id="confirm-title">Delete image {id}?</h3>
        <p>The original and every variant are removed. This cannot be undone.</p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="button" class="danger" onClick={confirm}>
          Delete
        </button>{' '}
        <button type="button" onClick={() => dialog.current?.close()} autofocus>
          Cancel
        </button>
      </dialog>
    </section>
  )
}
