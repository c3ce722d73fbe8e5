import { AppError } from '../errors/index.js'

/**
 * Where a reader of one owner's events stands: the last seq it has passed on each shard. An
 * owner's events are written on whichever shard holds the owner's bucket at the time and stay
 * there (a bucket move does not copy them), so after a move they sit on two shards: the reader
 * reads every shard from its own position, and a resume can neither skip nor repeat one.
 */
export type Position = ReadonlyMap<number, number>

const FORMAT = /^\d{1,9}:\d{1,18}(,\d{1,9}:\d{1,18})*$/
/** Far above a real position of a few hundred shards; bounds what a client can make us parse. */
const MAX_ID_LENGTH = 4096

/** The opaque event id clients hold: base64url of `shard:seq,shard:seq`. */
export function encodePosition(position: Position): string {
  const text = [...position]
    .sort(([a], [b]) => a - b)
    .map(([shard, seq]) => `${shard}:${seq}`)
    .join(',')
  return Buffer.from(text).toString('base64url')
}

/** The position an id names; EVENT_ID_INVALID (400) for anything no stream handed out. */
export function decodePosition(id: string): Position {
  const text = id.length <= MAX_ID_LENGTH ? Buffer.from(id, 'base64url').toString('utf8') : ''
  if (!FORMAT.test(text) || Buffer.from(text).toString('base64url') !== id)
    throw new AppError('EVENT_ID_INVALID', 'Last-Event-ID is not an event id of this service')
  return new Map(
    text.split(',').map((entry) => {
      const [shard, seq] = entry.split(':')
      return [Number(shard), Number(seq)] as const
    }),
  )
}
