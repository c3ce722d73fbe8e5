import { useState } from 'preact/hooks'
import { messageOf, signIn } from '../lib/api.js'

/**
 * The key or JWT is traded for a session cookie at once and then forgotten: the field is
 * cleared before the request goes out, and nothing is written to storage.
 */
export function SignIn() {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault()
    const field = (event.currentTarget as HTMLFormElement).elements.namedItem(
      'credential',
    ) as HTMLInputElement
    const credential = field.value.trim()
    field.value = ''
    if (!credential) return setError('Paste an API key (pf_…) or a JWT.')
    setBusy(true)
    setError(null)
    try {
      await signIn(credential)
    } catch (failure) {
      setError(messageOf(failure))
    } finally {
      setBusy(false)
    }
  }
  return (
    <main id="main" class="signin">
      <h1 tabIndex={-1}>Sign in to Pixelflow</h1>
      <form onSubmit={onSubmit}>
        <label for="credential">API key or JWT</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
        />
        <p class="hint">
          It is exchanged for a session at once and not kept in this page. Make a key with{' '}
          <code>pixelflow keys create --owner you</code>.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  )
}
