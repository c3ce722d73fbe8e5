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

  it('a v2 payload may carry the upload’s traceparent; one without it stays valid', () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(JSON.parse(processImagePayload('img1', 42, traceparent)).traceparent).toBe(traceparent)
    expect(parseProcessImageJob(processImagePayload('img1', 42, traceparent))).toEqual({
      kind: 'accepted',
      work: { version: 2, imageId: 'img1', queuedAt: 42, traceparent },
    })
    expect(processImagePayload('img1', 42, undefined)).not.toContain('traceparent')
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
