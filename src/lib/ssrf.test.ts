import { describe, expect, it } from 'vitest'
import { checkUrl, EMPTY_ALLOW_LIST, isPublicAddress, parseAllowList } from './ssrf.js'

const refused = async (url: string, allow = EMPTY_ALLOW_LIST) =>
  expect(checkUrl(url, allow)).rejects.toMatchObject({ code: 'URL_FORBIDDEN', statusCode: 422 })

describe('the outbound URL guard', () => {
  it.each([
    ['loopback', 'http://127.0.0.1/'],
    ['loopback, other than .1', 'http://127.8.9.10/'],
    ['private 10/8', 'http://10.0.0.1/'],
    ['private 172.16/12', 'http://172.16.5.4/'],
    ['private 192.168/16', 'http://192.168.1.1/'],
    ['link-local (cloud metadata)', 'http://169.254.169.254/latest/meta-data/'],
    ['carrier-grade NAT', 'http://100.64.0.1/'],
    ['unspecified', 'http://0.0.0.0/'],
    ['multicast', 'http://224.0.0.1/'],
    ['broadcast', 'http://255.255.255.255/'],
    ['reserved (documentation)', 'http://192.0.2.1/'],
    ['IPv6 loopback', 'http://[::1]/'],
    ['IPv6 unspecified', 'http://[::]/'],
    ['IPv6 link-local', 'http://[fe80::1]/'],
    ['IPv6 unique-local', 'http://[fd12:3456::1]/'],
    ['IPv6 multicast', 'http://[ff02::1]/'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/'],
    ['IPv4-mapped IPv6 metadata', 'http://[::ffff:a9fe:a9fe]/'],
    ['NAT64 of loopback', 'http://[64:ff9b::7f00:1]/'],
    ['6to4 of loopback', 'http://[2002:7f00:1::]/'],
    ['decimal IPv4 (normalised by the URL parser)', 'http://2130706433/'],
    ['hex and short IPv4', 'http://0x7f.1/'],
  ])('refuses %s', async (_name, url) => {
    await refused(url)
  })

  it('refuses a host name that resolves to loopback (localhost)', async () => {
    await refused('http://localhost:8080/hook')
  })

  it('refuses other schemes and unparsable URLs', async () => {
    await refused('file:///etc/passwd')
    await refused('ftp://example.com/')
    await refused('gopher://127.0.0.1:6379/_INFO')
    await refused('not a url')
  })

  it('accepts a public address and connects to the address it checked', async () => {
    const target = await checkUrl('https://93.184.215.14/x', EMPTY_ALLOW_LIST)
    expect(target).toMatchObject({ address: '93.184.215.14', family: 4 })
    const v6 = await checkUrl('https://[2606:4700::1111]/', EMPTY_ALLOW_LIST)
    expect(v6).toMatchObject({ address: '2606:4700::1111', family: 6 })
  })

  it('allows what the allow-list names: a range, an address, a host with or without a port', async () => {
    const allow = parseAllowList(' 10.0.0.0/8, ::1 ,localhost:8080, [::1]:9000 , hooks.internal')
    expect((await checkUrl('http://10.2.3.4/', allow)).address).toBe('10.2.3.4')
    expect((await checkUrl('http://[::1]:1234/', allow)).address).toBe('::1')
    expect((await checkUrl('http://[::ffff:10.0.0.9]/', allow)).address).toBe('10.0.0.9')
    const local = await checkUrl('http://LOCALHOST:8080/hook', allow)
    expect(['127.0.0.1', '::1']).toContain(local.address)
    // localhost is allowed on 8080 only; 127.0.0.1 is not in the list at all.
    await refused('http://localhost:8081/', allow)
    await refused('http://127.0.0.1:8080/', allow)
    await refused('http://169.254.169.254/', allow)
  })

  it('an IPv4 range also covers the IPv4-mapped IPv6 form, and vice versa', async () => {
    const allow = parseAllowList('::ffff:127.0.0.0/104')
    expect((await checkUrl('http://127.0.0.1/', allow)).address).toBe('127.0.0.1')
    expect((await checkUrl('http://[::ffff:127.0.0.1]/', allow)).address).toBe('127.0.0.1')
  })

  it('an empty list allows nothing special, and a bad entry fails at start-up', () => {
    expect(parseAllowList('')).toEqual(EMPTY_ALLOW_LIST)
    expect(() => parseAllowList('10.0.0.0/33')).toThrow(/CIDR/)
    expect(() => parseAllowList('host:99999')).toThrow(/port/)
    expect(() => parseAllowList('a b')).toThrow(/host\[:port\]/)
  })

  it('judges addresses as plain public unicast only', () => {
    expect(isPublicAddress('8.8.8.8')).toBe(true)
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true)
    expect(isPublicAddress('::ffff:192.168.0.1')).toBe(false)
    expect(isPublicAddress('nonsense')).toBe(false)
  })

  it('a name that does not resolve fails to fetch, not forbidden', async () => {
    await expect(checkUrl('http://no-such-host.invalid/', EMPTY_ALLOW_LIST)).rejects.toMatchObject({
      code: 'URL_FETCH_FAILED',
    })
  })
})
