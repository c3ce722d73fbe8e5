/**
 * k-way merge of lists each already sorted by `key` descending (newest id first), keeping the
 * first `limit` distinct keys. A key seen twice (a bucket listed by two shards around a switch)
 * is kept once. k is the shard count, so a scan of the k heads per item beats a heap here.
 */
export function mergeNewestFirst<T>(
  lists: readonly (readonly T[])[],
  key: (item: T) => string,
  limit: number,
): T[] {
  const heads = lists.map(() => 0)
  const out: T[] = []
  const seen = new Set<string>()
  while (out.length < limit) {
    let best = -1
    for (let i = 0; i < lists.length; i++) {
      const item = lists[i]![heads[i]!]
      if (item === undefined) continue
      if (best < 0 || key(item) > key(lists[best]![heads[best]!]!)) best = i
    }
    if (best < 0) break
    const item = lists[best]![heads[best]!]!
    heads[best]! += 1
    if (seen.has(key(item))) continue
    seen.add(key(item))
    out.push(item)
  }
  return out
}
