import type { ComponentChildren } from 'preact'
import { store } from './store.js'

/** The page's path under /ui/ ('' for the start page, 'images/abc'…): the server serves them all. */
export const route = store(currentRoute())

function currentRoute(): string {
  return location.pathname.replace(/^\/ui\/?/, '').replace(/\/+$/, '')
}

addEventListener('popstate', () => route.set(currentRoute()))

export function navigate(path: string): void {
  history.pushState(null, '', `/ui/${path}`)
  route.set(currentRoute())
  // A new screen: move focus to its heading for keyboard and screen-reader users.
  queueMicrotask(() => document.querySelector<HTMLElement>('main h1')?.focus())
}

/** A real link (open in a new tab works) that moves within the page on a plain click. */
export function Link({ to, ...rest }: { to: string; class?: string; children: ComponentChildren }) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
      return
    event.preventDefault()
    navigate(to)
  }
  return <a {...rest} href={`/ui/${to}`} onClick={onClick} />
}
