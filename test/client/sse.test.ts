import { describe, expect, it } from 'vitest'
import { retryAfterSeconds } from '../../packages/client/src/errors.js'
import { readSse, type SseMessage, SseParser } from '../../packages/client/src/sse.js'

const STREAM = [
  ': a comment, then an event with two data lines',
  'id: 1',
  'event: image.ready',
  'data: {"imageId":"a",',
  'data: "status":"ready"}',
  '',
  'data:no space after the colon',
  '',
  'retry: 2500',
  '',
  'id: 3',
  'event: image.failed',
  'data',
  '',
  'id: bad\0id',
  'data: x',
  '',
  '',
].join('\n')

const EXPECTED: SseMessage[] = [
  { event: 'image.ready', data: '{"imageId":"a",\n"status":"ready"}', id: '1', retry: undefined },
  { event: 'message', data: 'no space after the colon', id: '1', retry: undefined },
  { event: '', data: '', id: '1', retry: 2500 },
  { event: 'image.failed', data: '', id: '3', retry: undefined },
  { event: 'message', data: 'x', id: '3', retry: undefined },
]

function parseInChunks(text: string, size: number): SseMessage[] {
  const parser = new SseParser()
  const out: SseMessage[] = []
  for (let i = 0; i < text.length; i += size) out.push(...parser.push(text.slice(i, i + size)))
  return out
}

describe('text/event-stream parser', () => {
  it('reads events, ids, retry and comments as the HTML standard says', () => {
    // `data` alone is an empty data line: the event is dispatched with empty data.
    expect(parseInChunks(STREAM, STREAM.length)).toEqual(EXPECTED)
  })

  it('gives the same events however the text is split, at every chunk size', () => {
    for (let size = 1; size < 40; size++) expect(parseInChunks(STREAM, size)).toEqual(EXPECTED)
  })

  it('accepts CRLF and CR line ends, also split between chunks', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = STREAM.replaceAll('\n', eol)
      for (const size of [1, 2, 3, 7, text.length])
        expect(parseInChunks(text, size)).toEqual(EXPECTED)
    }
  })

  it('dispatches an event at its blank line, not only when the next chunk comes', () => {
    const parser = new SseParser()
    expect(parser.push('data: a\r\r')).toHaveLength(1)
    expect(parser.push('\ndata: b\r\n\r')).toHaveLength(1)
    expect(parser.push('\n')).toHaveLength(0)
  })

  it('drops a leading BOM and an event not terminated by a blank line', () => {
    expect(parseInChunks('\uFEFFdata: a\n\ndata: cut off', 3)).toEqual([
      { event: 'message', data: 'a', id: undefined, retry: undefined },
    ])
  })

  it('resumes from a given last event id, and keeps an id only once its event ends', () => {
    const parser = new SseParser('41')
    expect(parser.push('data: a\n\nid: 43\ndata: b')).toEqual([
      { event: 'message', data: 'a', id: '41', retry: undefined },
    ])
    // The block with id 43 never ended: resuming must start after 41, not 43.
    expect(parser.lastEventId).toBe('41')
    parser.push('\n\n')
    expect(parser.lastEventId).toBe('43')
  })

  it('decodes UTF-8 split inside a character across network chunks', async () => {
    const bytes = new TextEncoder().encode('data: café ☕\n\n')
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]))
        controller.close()
      },
    })
    const messages: SseMessage[] = []
    for await (const message of readSse(body)) messages.push(message)
    expect(messages.map((m) => m.data)).toEqual(['café ☕'])
  })
})

describe('Retry-After', () => {
  const now = Date.parse('2026-12-04T12:00:00Z')
  it('reads delta-seconds and HTTP dates', () => {
    expect(retryAfterSeconds('7', now)).toBe(7)
    expect(retryAfterSeconds(' 0 ', now)).toBe(0)
    expect(retryAfterSeconds('Fri, 04 Dec 2026 12:00:30 GMT', now)).toBe(30)
    expect(retryAfterSeconds('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0)
  })
  it('ignores what it cannot read', () => {
    expect(retryAfterSeconds(null, now)).toBeUndefined()
    expect(retryAfterSeconds('soon', now)).toBeUndefined()
    expect(retryAfterSeconds('-5', now)).toBeUndefined()
  })
})
