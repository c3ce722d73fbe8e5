import { describe, expect, it } from 'vitest'
import type { DeadJob } from './queue.js'
import { redriveDead } from './redrive.js'

function fakeQueue(deadIds: string[]) {
  const dead = new Set(deadIds)
  const asked: string[] = []
  return {
    asked,
    dead,
    async listDead(limit: number): Promise<DeadJob[]> {
      return [...dead]
        .slice(0, limit)
        .map((id) => ({ id, payload: '{}', attempts: 5, errors: [], createdAt: 0 }))
    },
    async redrive(id: string): Promise<boolean> {
      asked.push(id)
      return dead.delete(id)
    },
  }
}

describe('redriveDead', () => {
  it('redrives the named jobs and reports the ones that were not dead', async () => {
    const queue = fakeQueue(['a', 'b', 'c'])
    expect(await redriveDead(queue, ['c', 'x', 'a', 'c'], 100)).toEqual({
      redriven: ['c', 'a'],
      missing: ['x'],
    })
    expect([...queue.dead]).toEqual(['b'])
    expect(queue.asked).toEqual(['c', 'x', 'a']) // each id once
  })

  it('without ids, redrives what listDead shows, at most max', async () => {
    const queue = fakeQueue(['a', 'b', 'c'])
    expect(await redriveDead(queue, undefined, 2)).toEqual({ redriven: ['a', 'b'], missing: [] })
    expect([...queue.dead]).toEqual(['c'])
  })

  it('never redrives more than max named ids', async () => {
    const queue = fakeQueue(['a', 'b', 'c'])
    expect((await redriveDead(queue, ['a', 'b', 'c'], 1)).redriven).toEqual(['a'])
  })

  it('stops at a broker error and still reports what it moved before it', async () => {
    const queue = fakeQueue(['a', 'b', 'c'])
    const failing = {
      ...queue,
      async redrive(id: string) {
        if (id === 'b') throw new Error('channel closed')
        return queue.redrive(id)
      },
    }
    const result = await redriveDead(failing, ['a', 'b', 'c'], 100)
    expect(result.redriven).toEqual(['a'])
    expect(result.missing).toEqual([])
    expect(String(result.error)).toContain('channel closed')
    expect([...queue.dead]).toEqual(['b', 'c'])
  })
})
