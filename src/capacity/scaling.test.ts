import { describe, expect, it } from 'vitest'
import {
  backlogPerWorker,
  decideReplicas,
  initialScalingState,
  recommendedReplicas,
  type ScalingPolicy,
} from './scaling.js'

const policy: ScalingPolicy = {
  targetBacklogPerWorker: 10,
  minReplicas: 2,
  maxReplicas: 50,
  scaleDownCooldownSeconds: 300,
  tolerance: 0.1,
}
const at = (atSeconds: number, current: number, backlog: number) => ({
  atSeconds,
  current,
  backlogPerWorker: backlog,
})

describe('backlog per worker', () => {
  it('is jobs waiting ÷ running slots; nothing running and work waiting is infinitely behind', () => {
    expect(backlogPerWorker(40, 8)).toBe(5)
    expect(backlogPerWorker(0, 0)).toBe(0)
    expect(backlogPerWorker(3, 0)).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('recommended replicas: ceil(current × metric / target), clamped', () => {
  it('scales in proportion to the backlog', () => {
    expect(recommendedReplicas(policy, at(0, 4, 25))).toBe(10)
    expect(recommendedReplicas(policy, at(0, 4, 21))).toBe(9)
    expect(recommendedReplicas(policy, at(0, 10, 5))).toBe(5)
  })

  it('keeps the count within the tolerance, and within min and max', () => {
    expect(recommendedReplicas(policy, at(0, 7, 10.9))).toBe(7)
    expect(recommendedReplicas(policy, at(0, 7, 9.2))).toBe(7)
    expect(recommendedReplicas(policy, at(0, 10, 0))).toBe(2)
    expect(recommendedReplicas(policy, at(0, 40, 100))).toBe(50)
  })

  it('starts one worker when work waits and none runs (activation), at least min', () => {
    expect(recommendedReplicas({ ...policy, minReplicas: 0 }, at(0, 0, Infinity))).toBe(1)
    expect(recommendedReplicas({ ...policy, minReplicas: 0 }, at(0, 0, 0))).toBe(0)
    expect(recommendedReplicas(policy, at(0, 0, Infinity))).toBe(2)
  })
})

describe('decisions with a scale-down cooldown', () => {
  it('scales up at once and down only to the highest recommendation of the window', () => {
    let state = initialScalingState(4)
    const step = (atSeconds: number, current: number, backlog: number) => {
      const decision = decideReplicas(policy, state, at(atSeconds, current, backlog))
      state = decision.state
      return decision.desired
    }
    expect(step(0, 4, 30)).toBe(12)
    // The backlog is gone, but 12 was recommended 15 s ago: hold.
    expect(step(15, 12, 0)).toBe(12)
    expect(step(200, 12, 5)).toBe(12)
    // 12 left the window (older than 300 s); the highest since is 6 (at 200 s).
    expect(step(301, 12, 0)).toBe(6)
    expect(step(501, 6, 0)).toBe(2)
  })

  it('does not cancel pending workers while the running ones catch up', () => {
    let state = initialScalingState(2)
    state = decideReplicas(policy, state, at(0, 2, 100)).state
    expect(state.desired).toBe(20)
    // 18 still starting; 2 running see a smaller backlog: the 20 stands.
    expect(decideReplicas(policy, state, at(15, 2, 60)).desired).toBe(20)
  })
})
