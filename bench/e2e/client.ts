/**
 * What the parts that drive a listening `node dist/…` service over HTTP share: an upload, waiting
 * for images to be ready (with the server's own timestamps), and the API's event-loop delay from
 * its /metrics.
 */
import { sleep } from '../harness/async.js'

/** POST /v1/images; the new image's id (anything but a 202 throws). */
export async function post(base: string, key: string, type: string, body: Buffer): Promise<string> {
  const response = await fetch(base, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
    body: new Uint8Array(body.buffer, body.byteOffset, body.length) as Uint8Array<ArrayBuffer>,
  })
  const answer = (await response.json()) as { id: string }
  if (response.status !== 202)
    throw new Error(`upload answered ${response.status}: ${JSON.stringify(answer)}`)
  return answer.id
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
