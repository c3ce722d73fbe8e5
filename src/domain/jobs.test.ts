import { describe, expect, it } from 'vitest'
import {
  ACCEPTED_JOB_VERSIONS,
  JOB_VERSION,
  parseProcessImageJob,
  processImagePayload,
} from './jobs.js'

describe('process-image job payloads', () => {
  it('producers write the current version; a worker accepts it and the one before', () => {
    expect(JSON.parse(processImagePayload('img1', 42))).toEqual({
      v: JOB_VERSION,
      imageId: 'img1',
      queuedAt: 42,
    })
    expect(ACCEPTED_JOB_VERSIONS).toEqual([JOB_VERSION - 1, JOB_VERSION])
    expect(parseProcessImageJob(processImagePayload('img1', 42))).toEqual({
      kind: 'accepted',
      work: { version: 2, imageId: 'img1', queuedAt: 42 },
    })
  })

  it('a payload without a version is v1, the format before versioning', () => {
    expect(parseProcessImageJob('{"imageId":"img1"}')).toEqual({
      kind: 'accepted',
      work: { version: 1, imageId: 'img1' },
    })
  })

  it('a version newer than the worker knows is "newer", even with fields it cannot read', () => {
    expect(parseProcessImageJob(processImagePayload('img1', 1), [1])).toEqual({
      kind: 'newer',
      version: 2,
      imageId: 'img1',
    })
    expect(parseProcessImageJob('{"v":3,"image":{"id":"x"}}')).toEqual({
      kind: 'newer',
      version: 3,
      imageId: null,
    })
  })

  it('unreadable payloads and retired versions are invalid', () => {
    const kind = (payload: string, accepts?: number[]) =>
      parseProcessImageJob(payload, accepts).kind
    expect(kind('not json')).toBe('invalid')
    expect(kind('null')).toBe('invalid')
    expect(kind('{"v":"2","imageId":"x"}')).toBe('invalid')
    expect(kind('{"v":0,"imageId":"x"}')).toBe('invalid')
    expect(kind('{"v":2}')).toBe('invalid')
    // A worker two releases ahead no longer reads v1.
    expect(kind('{"imageId":"x"}', [2, 3])).toBe('invalid')
  })
})
