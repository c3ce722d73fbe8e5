import { isPixelflowError } from '@pixelflow/client'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { messageOf, request } from './api.js'

export interface Loaded<T> {
  data: T | null
  error: string | null
  /** The route is not on this server (404): the section says so instead of failing. */
  missing: boolean
  reload: () => void
}

/** GET a JSON route once, again on reload() and every refreshMs if given. */
export function useLoad<T>(path: string, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [missing, setMissing] = useState(false)
  const reload = useCallback(() => {
    request<T>('GET', path).then(
      (body) => {
        setData(body)
        setError(null)
      },
      (failure) => {
        if (isPixelflowError(failure) && failure.status === 404) setMissing(true)
        else setError(messageOf(failure))
      },
    )
  }, [path])
  useEffect(() => {
    reload()
    if (!refreshMs) return
    const timer = setInterval(reload, refreshMs)
    return () => clearInterval(timer)
  }, [reload, refreshMs])
  return { data, error, missing, reload }
}

/** The rows of a list answer, whichever way it wraps them ({items}, {shards}, or a bare array). */
export function rowsOf(data: unknown, ...keys: string[]): Record<string, unknown>[] {
  if (Array.isArray(data)) return data
  if (data && typeof data === 'object')
    for (const key of ['items', ...keys]) {
      const value = (data as Record<string, unknown>)[key]
      if (Array.isArray(value)) return value
    }
  return []
}
