import { useEffect } from 'preact/hooks'
import { isAdmin, session, signOut } from './lib/api.js'
import { liveMode, startLive, stopLive } from './lib/live.js'
import { Link, route } from './lib/router.js'
import { useStore } from './lib/store.js'
import { overall, uploads } from './lib/uploads.js'
import { Gallery } from './screens/Gallery.js'
import { ImagePage } from './screens/ImagePage.js'
import { Operator } from './screens/Operator.js'
import { SignIn } from './screens/SignIn.js'
import { Upload } from './screens/Upload.js'

/** The shell: the session decides sign-in or the app; the upload queue outlives every screen. */
export function App() {
  const current = useStore(session)
  useEffect(() => {
    if (current) startLive()
    else stopLive()
  }, [current?.ownerId])
  if (current === undefined) return <p class="loading">Loading…</p>
  if (current === null) return <SignIn />
  return (
    <>
      <Header />
      <Screen />
    </>
  )
}

function Header() {
  const current = useStore(session)!
  const mode = useStore(liveMode)
  return (
    <header>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <nav aria-label="Main">
        <strong>Pixelflow</strong>
        <Link to="upload">Upload</Link>
        <Link to="gallery">Gallery</Link>
        {isAdmin(current) && <Link to="operator">Operator</Link>}
      </nav>
      <UploadSummary />
      <span class="who">
        {current.ownerId} · <span title="How statuses arrive">{mode}</span>
      </span>
      <button type="button" onClick={() => void signOut()}>
        Sign out
      </button>
    </header>
  )
}

/** The overall bar in the header, so an upload's progress shows on every screen. */
function UploadSummary() {
  const items = useStore(uploads)
  const busy = items.some((i) => i.state === 'waiting' || i.state === 'sending')
  if (!busy) return null
  const { loaded, total } = overall(items)
  return (
    <label class="summary">
      Uploading <progress max={total || 1} value={loaded} />
    </label>
  )
}

function Screen() {
  const path = useStore(route)
  const admin = isAdmin(useStore(session))
  const image = /^images\/([^/]+)$/.exec(path)
  if (image) return <ImagePage id={decodeURIComponent(image[1]!)} />
  if (path === 'gallery') return <Gallery />
  if (path === 'operator' && admin) return <Operator />
  return <Upload />
}
