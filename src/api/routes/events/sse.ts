import { once } from 'node:events'
import type { ServerResponse } from 'node:http'

/**
 * Server-sent events framing (the WHATWG `text/event-stream` format), written by hand: a frame is
 * three `field: value` lines, and the stream's lifetime (heartbeats, shutdown, backpressure,
 * the slot it holds) is ours to control either way. Values never contain a newline: `data` is
 * one line of JSON, ids are base64url, types are fixed names.
 */
export function eventFrame(type: string, id: string, data: unknown): string {
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`
}

/** A message with only an id: moves the client's Last-Event-ID without firing an event. */
export function idFrame(id: string): string {
  return `id: ${id}\n\n`
}

export const heartbeatFrame = ': heartbeat\n\n'

export function retryFrame(ms: number): string {
  return `retry: ${ms}\n\n`
}

/** Writes, waiting for the socket to drain when its buffer is full (a slow client). */
export async function send(raw: ServerResponse, text: string): Promise<void> {
  if (raw.destroyed || raw.writableEnded) return
  if (raw.write(text)) return
  await Promise.race([once(raw, 'drain'), once(raw, 'close')])
}
