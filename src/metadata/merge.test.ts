import { describe, expect, it } from 'vitest'
import { mergeNewestFirst } from './merge.js'

const id = (s: string) => s

describe('mergeNewestFirst', () => {
  it('merges descending lists into one descending page of at most limit items', () => {
    const merged = mergeNewestFirst([['z', 'm', 'c'], ['y', 'n', 'a'], [], ['x']], id, 5)
    expect(merged).toEqual(['z', 'y', 'x', 'n', 'm'])
  })

  it('keeps a key listed by two inputs once', () => {
    expect(
      mergeNewestFirst(
        [
          ['d', 'b'],
          ['d', 'c', 'b', 'a'],
        ],
        id,
        10,
      ),
    ).toEqual(['d', 'c', 'b', 'a'])
  })

  it('returns everything when the inputs hold fewer than limit items', () => {
    expect(mergeNewestFirst([['b'], ['a']], id, 10)).toEqual(['b', 'a'])
    expect(mergeNewestFirst([], id, 10)).toEqual([])
  })
})
