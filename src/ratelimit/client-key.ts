import { isIPv4, isIPv6 } from 'node:net'

/**
 * The rate-limit key of a client address. An IPv6 client is usually given a whole /64 (often far
 * more), so keying by full address would hand it 2^64 fresh budgets: IPv6 is keyed by its /64.
 * An IPv4-mapped IPv6 address (::ffff:1.2.3.4) is its IPv4 address.
 */
export function clientKey(ip: string): string {
  const address = ip.replace(/%.*$/, '') // a zone index (fe80::1%eth0) names an interface, not a client
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return address
  const groups = expandIPv6(address)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.')
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function expandIPv6(address: string): number[] {
  let text = address.toLowerCase()
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => 0)
  return [...left, ...zeros, ...right]
}
