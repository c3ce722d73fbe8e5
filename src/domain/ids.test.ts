import { describe, expect, it } from 'vitest'
import { BUCKET_COUNT } from './bucket.js'
import { bucketOfId, ID_LENGTH, isImageId, newImageId } from './ids.js'

const URL_SAFE = /^[A-Za-z0-9_-]+$/

describe('image ids', () => {
  it('are 29 URL-safe characters', () => {
    expect(ID_LENGTH).toBe(29)
    const id = newImageId(7)
    expect(id).toHaveLength(29)
    expect(id).toMatch(URL_SAFE)
    expect(encodeURIComponent(id)).toBe(id)
    expect(isImageId(id)).toBe(true)
  })

  it('sort by creation time, to the millisecond', () => {
    const times = [0, 1, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000]
    const ids = times.map((t, i) => newImageId(4095 - i, t))
    expect([...ids].reverse().sort()).toEqual(ids)
  })

  it('embed the bucket', () => {
    const buckets = [
      0,
      1,
      31,
      32,
      4095,
      ...Array.from({ length: 50 }, () => Math.floor(Math.random() * BUCKET_COUNT)),
    ]
    for (const bucket of buckets)
      expect(bucketOfId(newImageId(bucket)), `bucket ${bucket}`).toBe(bucket)
  })

  it('answer null for malformed ids', () => {
    const good = newImageId(12)
    const malformed = [
      '',
      good.slice(1), // too short
      `${good}0`, // too long
      good.toUpperCase(),
      `${good.slice(0, 28)}u`, // u, i, l, o are not Crockford digits
      `${good.slice(0, 28)}-`,
      `${good.slice(0, 10)}zzz${good.slice(13)}`, // bucket 32767 ≥ 4096
      `${good.slice(0, 10)}400${good.slice(13)}`, // bucket 4096
      '../../etc/passwd',
    ]
    for (const id of malformed) {
      expect(bucketOfId(id), JSON.stringify(id)).toBeNull()
    }
    expect(bucketOfId(`${good.slice(0, 10)}3zz${good.slice(13)}`)).toBe(4095)
  })

  it('are distinct, 10,000 of them in the same millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => newImageId(1, 1_700_000_000_000))
    expect(new Set(ids).size).toBe(10_000)
    // The random part really varies: ids made in one millisecond for one bucket still differ in their tail.
    expect(new Set(ids.map((id) => id.slice(13, 17))).size).toBeGreaterThan(9_000)
  })
})
