/**
 * A text/event-stream parser (the HTML standard's "event stream interpretation"), written here
 * because the client has no runtime dependency and EventSource cannot send an Authorization
 * header. It is fed decoded text in chunks of any size and returns the events each chunk ends.
 */
export interface SseMessage {
  /** `message` unless the event named another type. */
  event: string
  data: string
  /** The last event id seen so far in the stream (ids persist until changed). */
  id: string | undefined
  /** A reconnection delay the server asked for, in milliseconds. */
  retry: number | undefined
}

export class SseParser {
  private buffer = ''
  /** The last chunk ended with \r: a \n opening the next one belongs to that line end. */
  private afterCr = false
  private started = false
  private data: string[] = []
  private event = ''
  private retry: number | undefined
  /** The `id:` of the block being read; it becomes the last event id only once the block ends. */
  private idBuffer: string | undefined
  /** The stream's last event id; a message without `id:` keeps the previous one. */
  lastEventId: string | undefined

  constructor(lastEventId?: string) {
    this.lastEventId = lastEventId
    this.idBuffer = lastEventId
  }

  push(chunk: string): SseMessage[] {
    let text = this.buffer + chunk
    if (!this.started && text.length > 0) {
      this.started = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    const messages: SseMessage[] = []
    let start = 0
    // The \n of a \r\n split between two chunks: the line already ended at the \r.
    if (this.afterCr && text.startsWith('\n') && this.buffer === '') start = 1
    this.afterCr = false
    for (;;) {
      const end = lineEnd(text, start)
      if (end === -1) break
      const line = text.slice(start, end)
      start = end + (text[end] === '\r' && text[end + 1] === '\n' ? 2 : 1)
      if (text[end] === '\r' && end + 1 === text.length) this.afterCr = true
      const message = this.line(line)
      if (message) messages.push(message)
    }
    this.buffer = text.slice(start)
    return messages
  }

  /** The end of the stream: an unterminated last event is dropped, as the standard says. */
  end(): void {
    this.buffer = ''
    this.data = []
    this.event = ''
    this.idBuffer = this.lastEventId
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return null
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.event = value
    else if (field === 'id' && !value.includes('\0')) this.idBuffer = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
    return null
  }

  private dispatch(): SseMessage | null {
    const { data, event } = this
    this.lastEventId = this.idBuffer
    this.data = []
    this.event = ''
    const retry = this.retry
    this.retry = undefined
    if (data.length === 0) return retry === undefined ? null : noData(retry, this.lastEventId)
    return { event: event || 'message', data: data.join('\n'), id: this.lastEventId, retry }
  }
}

/** A retry-only block still has to reach the reader; it carries no event (empty type and data). */
function noData(retry: number, id: string | undefined): SseMessage {
  return { event: '', data: '', id, retry }
}

function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 10 || c === 13) return i
  }
  return -1
}

/** The messages of an event-stream body, decoded as UTF-8, until it ends. */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
  parser: SseParser = new SseParser(),
): AsyncGenerator<SseMessage> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      yield* parser.push(decoder.decode(value, { stream: true }))
    }
    yield* parser.push(decoder.decode())
    parser.end()
  } finally {
    // A reader that stops early (break, return, an error) lets go of the connection.
    await reader.cancel().catch(() => {})
  }
}
