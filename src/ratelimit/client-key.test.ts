import { describe, expect, it } from 'vitest'
import { clientKey } from './client-key.js'

describe('clientKey', () => {
  it('keeps an IPv4 address', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7')
  })

  it('keys IPv6 by its /64, however it is written', () => {
    const key = '2001:db8:aa:bb::/64'
    expect(clientKey('2001:db8:aa:bb::1')).toBe(key)
    expect(clientKey('2001:0db8:00aa:00bb:ffff:ffff:ffff:ffff')).toBe(key)
    expect(clientKey('2001:DB8:AA:BB:1:2:3:4')).toBe(key)
    expect(clientKey('2001:db8:aa:bc::1')).not.toBe(key)
    expect(clientKey('::1')).toBe('0:0:0:0::/64')
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
  })

  it('reads an IPv4-mapped IPv6 address as IPv4', () => {
    expect(clientKey('::ffff:198.51.100.4')).toBe('198.51.100.4')
    expect(clientKey('::ffff:c633:6404')).toBe('198.51.100.4')
  })

  it('leaves anything else alone', () => {
    expect(clientKey('unknown')).toBe('unknown')
  })
})
