import type { ComponentChildren } from 'preact'
import type { Loaded } from '../lib/use-load.js'

/** A section whose route may not exist on this server yet: it says so instead of failing. */
export function Section<T>(props: {
  id: string
  title: string
  load: Loaded<T>
  children: (data: T) => ComponentChildren
}) {
  const { data, error, missing } = props.load
  return (
    <section aria-labelledby={props.id} class="panel">
      <h2 id={props.id}>{props.title}</h2>
      {missing && <p class="note">Not available: this server has no such admin route (404).</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {data !== null && props.children(data)}
    </section>
  )
}
