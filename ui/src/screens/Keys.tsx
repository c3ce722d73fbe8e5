import { useState } from 'preact/hooks'
import { DataTable } from '../components/DataTable.js'
import { Section } from '../components/Section.js'
import { messageOf, request } from '../lib/api.js'
import { rowsOf, useLoad } from '../lib/use-load.js'

/** API keys: create, rotate and revoke; a new key's secret is shown once, here. */
export function Keys() {
  const keys = useLoad<unknown>('/v1/admin/keys')
  const [message, setMessage] = useState<string | null>(null)
  const act = async (run: () => Promise<unknown>, done: (answer: unknown) => string) => {
    try {
      setMessage(done(await run()))
      keys.reload()
    } catch (failure) {
      setMessage(messageOf(failure))
    }
  }
  const create = (event: SubmitEvent) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const data = new FormData(form)
    const scopes = String(data.get('scopes') ?? '')
      .split(/[\s,]+/)
      .filter(Boolean)
    const json = { ownerId: String(data.get('owner')), ...(scopes.length ? { scopes } : {}) }
    void act(
      () => request('POST', '/v1/admin/keys', { json }),
      (a) => `New key (shown once): ${secretOf(a)}`,
    )
    form.reset()
  }
  const actions = (row: Record<string, unknown>) => {
    const id = encodeURIComponent(String(row.id))
    return (
      <>
        <button
          type="button"
          onClick={() =>
            act(
              () => request('POST', `/v1/admin/keys/${id}/rotate`, { json: {} }),
              (a) => `Rotated; new key (shown once): ${secretOf(a)}`,
            )
          }
        >
          Rotate <span class="visually-hidden">{String(row.id)}</span>
        </button>{' '}
        <button
          type="button"
          class="danger"
          onClick={() =>
            act(
              () => request('DELETE', `/v1/admin/keys/${id}`),
              () => 'Revoked',
            )
          }
        >
          Revoke <span class="visually-hidden">{String(row.id)}</span>
        </button>
      </>
    )
  }
  return (
    <Section id="keys-title" title="API keys" load={keys}>
      {(data) => (
        <>
          <DataTable
            caption="API keys"
            rows={rowsOf(data, 'keys')}
            columns={['id', 'ownerId', 'scopes', 'createdAt', 'revokedAt', 'active']}
            actions={actions}
          />
          <form class="row" onSubmit={create}>
            <label>
              Owner <input name="owner" required />
            </label>
            <label>
              Scopes <input name="scopes" placeholder="images:read images:write" />
            </label>
            <button type="submit">Create key</button>
          </form>
          <p role="status" class="secret">
            {message}
          </p>
        </>
      )}
    </Section>
  )
}

function secretOf(answer: unknown): string {
  const a = (answer ?? {}) as { key?: string; secret?: string; apiKey?: string }
  return a.key ?? a.secret ?? a.apiKey ?? JSON.stringify(answer)
}
