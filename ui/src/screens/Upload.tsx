import { useState } from 'preact/hooks'
import { StatusBadge } from '../components/StatusBadge.js'
import { bytes } from '../lib/format.js'
import { statuses } from '../lib/live.js'
import { Link } from '../lib/router.js'
import { useStore } from '../lib/store.js'
import { addFiles, clearFinished, overall, type UploadItem, uploads } from '../lib/uploads.js'

/** Pick or drop many files; each has its bar, and a refused one says why beside it. */
export function Upload() {
  const items = useStore(uploads)
  const [over, setOver] = useState(false)
  const onDrop = (event: DragEvent) => {
    event.preventDefault()
    setOver(false)
    if (event.dataTransfer?.files.length) addFiles(event.dataTransfer.files)
  }
  const onPick = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement
    if (input.files?.length) addFiles(input.files)
    input.value = ''
  }
  return (
    <main id="main">
      <h1 tabIndex={-1}>Upload</h1>
      {/* Dropping is for the mouse; the file input beside it is the keyboard's way in. */}
      <section
        aria-label="Drop zone"
        class={over ? 'dropzone over' : 'dropzone'}
        onDragOver={(event) => {
          event.preventDefault()
          setOver(true)
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <label for="files">Drop images here, or choose files</label>
        <input id="files" type="file" accept="image/*" multiple onChange={onPick} />
      </section>
      {items.length > 0 && <Queue items={items} />}
    </main>
  )
}

function Queue({ items }: { items: readonly UploadItem[] }) {
  const { loaded, total } = overall(items)
  return (
    <section aria-labelledby="queue-title">
      <h2 id="queue-title">Uploads</h2>
      <label class="overall">
        All files: {bytes(loaded)} of {bytes(total)}
        <progress max={total || 1} value={loaded} />
      </label>
      <ul class="queue">
        {items.map((item) => (
          <Row key={item.key} item={item} />
        ))}
      </ul>
      <button type="button" onClick={clearFinished}>
        Clear finished
      </button>
    </section>
  )
}

function Row({ item }: { item: UploadItem }) {
  const live = useStore(statuses)
  const status = item.imageId ? (live.get(item.imageId) ?? 'queued') : null
  return (
    <li class={`upload upload-${item.state}`} data-name={item.name}>
      <span class="name">{item.name}</span>
      <progress
        max={item.size || 1}
        value={item.state === 'refused' ? 0 : item.loaded}
        aria-label={`${item.name} sent`}
      />
      <span class="size">{bytes(item.size)}</span>
      {item.state === 'waiting' && <span class="state">waiting</span>}
      {item.state === 'sending' && <span class="state">sending</span>}
      {item.state === 'refused' && (
        <span class="error" role="alert">
          Refused: {item.detail}
        </span>
      )}
      {item.imageId && status && (
        <Link to={`images/${item.imageId}`} class="state">
          <StatusBadge status={status} /> <span class="visually-hidden">open {item.name}</span>
        </Link>
      )}
    </li>
  )
}
