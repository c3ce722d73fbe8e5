import { describe, expect, it } from 'vitest'
import { decodePosition, encodePosition } from './position.js'

describe('event positions', () => {
  it('round-trips, sorted by shard, as an opaque url-safe token', () => {
    const id = encodePosition(
      new Map([
        [3, 0],
        [0, 12],
        [1, 9_007_199_254_740],
      ]),
    )
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/)
    expect([...decodePosition(id)]).toEqual([
      [0, 12],
      [1, 9_007_199_254_740],
      [3, 0],
    ])
  })

  it.each([
    '',
    'not base64 !',
    Buffer.from('0:1,').toString('base64url'),
    Buffer.from('a:1').toString('base64url'),
    Buffer.from('0:-1').toString('base64url'),
    `${Buffer.from('0:1').toString('base64url')}=`,
    'x'.repeat(5000),
  ])('refuses %j with EVENT_ID_INVALID', (id) => {
    expect(() => decodePosition(id)).toThrow(expect.objectContaining({ code: 'EVENT_ID_INVALID' }))
  })
})
