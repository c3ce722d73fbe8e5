import type { Send } from './transport.js'
import type { Progress } from './upload-body.js'

/**
 * Sends one request with XMLHttpRequest, whose upload events are the only way a browser reports
 * how much of a request body went out: fetch has no upload progress, and Chromium streams a
 * request body (what the Node path counts) only over HTTP/2.
 */
export function xhrSend(onProgress: (progress: Progress) => void): Send {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      const signal = init.signal
      const onAbort = () => xhr.abort()
      xhr.open(init.method ?? 'GET', url)
      for (const [name, value] of Object.entries((init.headers ?? {}) as Record<string, string>))
        if (name !== 'user-agent') xhr.setRequestHeader(name, value)
      xhr.responseType = 'blob'
      const report = (event: ProgressEvent) =>
        onProgress(
          event.lengthComputable
            ? { loaded: event.loaded, total: event.total }
            : { loaded: event.loaded },
        )
      xhr.upload.addEventListener('progress', report)
      xhr.upload.addEventListener('load', report)
      xhr.addEventListener('load', () => {
        signal?.removeEventListener('abort', onAbort)
        const empty = xhr.status === 204 || xhr.status === 304
        resolve(
          new Response(empty ? null : (xhr.response as Blob), {
            status: xhr.status,
            statusText: xhr.statusText,
            headers: parseHeaders(xhr.getAllResponseHeaders()),
          }),
        )
      })
      const fail = () => {
        signal?.removeEventListener('abort', onAbort)
        reject(signal?.aborted ? signal.reason : new TypeError('Network request failed'))
      }
      xhr.addEventListener('error', fail)
      xhr.addEventListener('abort', fail)
      xhr.addEventListener('timeout', fail)
      if (signal?.aborted) return reject(signal.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      xhr.send((init.body ?? null) as XMLHttpRequestBodyInit | null)
    })
}

function parseHeaders(raw: string): Headers {
  const headers = new Headers()
  for (const line of raw.trim().split(/[\r\n]+/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  return headers
}
