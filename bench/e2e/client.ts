/**
 * What the parts that drive a listening `node dist/…` service over HTTP share: an upload, waiting
 * for images to be ready (with the server's own timestamps), and the API's event-loop delay from
 * its /metrics.
 */
import { request as httpRequest } from 'node:http'
import { sleep } from '../harness/async.js'

/**
 * POST /v1/images; the new image's id (anything but a 202 throws). Sent with node:http, which
 * writes the head and the body as soon as the socket connects, without a copy: fetch copied each
 * body first, and with 100 bodies of 22 MB (the memory part's burst) the client's own event loop
 * fell so far behind that some connections sent no request head for over 10 s, and the server
 * (PIXELFLOW_HTTP_HEADERS_TIMEOUT_MS) rightly closed them.
 */
export function post(base: string, key: string, type: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${key}`, 'content-type': type }
    const request = httpRequest(base, { method: 'POST', headers }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        if (response.statusCode !== 202)
          reject(new Error(`upload answered ${response.statusCode}: ${text}`))
        else resolve((JSON.parse(text) as { id: string }).id)
      })
    })
    request.on('error', reject)
    request.end(body)
  })
}

/**
 * Polls each image until it is `ready` (a `failed` one throws) and returns when each became
 * ready by the server's clock: the row's `updatedAt`, written by the commit that marks it ready,
 * so the polling interval does not show in the figure.
 */
export async function readyTimes(
  base: string,
  key: string,
  ids: readonly string[],
  { pollMs = 100, timeoutMs = 300_000 } = {},
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  const times: number[] = []
  for (const id of ids) {
    for (;;) {
      const image = (await (
        await fetch(`${base}/${id}`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as { status: string; updatedAt: string }
      if (image.status === 'ready') {
        times.push(Date.parse(image.updatedAt))
        break
      }
      if (image.status === 'failed') throw new Error(`image ${id} failed`)
      if (Date.now() > deadline) throw new Error(`image ${id} not ready within ${timeoutMs} ms`)
      await sleep(pollMs)
    }
  }
  return times
}

export interface EventLoopDelay {
  p99Ms: number
  maxMs: number
}

/**
 * prom-client's event-loop figures (perf_hooks.monitorEventLoopDelay with a 10 ms timer) since the
 * previous scrape: each scrape resets the histogram. Its samples are the timer's whole interval,
 * so an idle loop reads 10 ms; the delay is what lies beyond it.
 */
const LAG_RESOLUTION_MS = 10

export async function eventLoopDelay(metricsUrl: string): Promise<EventLoopDelay> {
  const text = await (await fetch(metricsUrl)).text()
  const ms = (name: string) => {
    const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)
    if (!match) throw new Error(`/metrics has no ${name}`)
    return Math.max(0, Number(match[1]) * 1000 - LAG_RESOLUTION_MS)
  }
  return {
    p99Ms: ms('nodejs_eventloop_lag_p99_seconds'),
    maxMs: ms('nodejs_eventloop_lag_max_seconds'),
  }
}
