import { describe, expect, it } from 'vitest'
import { parseDurationSeconds } from './duration.js'

describe('parseDurationSeconds', () => {
  it('reads plain seconds and s, m, h, d suffixes', () => {
    expect(parseDurationSeconds('3600')).toBe(3600)
    expect(parseDurationSeconds('0')).toBe(0)
    expect(parseDurationSeconds('45s')).toBe(45)
    expect(parseDurationSeconds('30m')).toBe(1800)
    expect(parseDurationSeconds('1h')).toBe(3600)
    expect(parseDurationSeconds('2d')).toBe(172_800)
    expect(parseDurationSeconds(' 1h ')).toBe(3600)
  })

  it('refuses anything else, saying what it accepts', () => {
    for (const bad of ['', 'h', '1.5h', '-1', '1w', '1 h', '1h30m', 'abc', '0x10', '1e3'])
      expect(() => parseDurationSeconds(bad), bad).toThrow(/e\.g\. 3600, 45s, 30m, 1h, 2d/)
  })

  it('refuses a duration beyond the cap', () => {
    expect(parseDurationSeconds('30d', 30 * 86_400)).toBe(30 * 86_400)
    expect(() => parseDurationSeconds('31d', 30 * 86_400)).toThrow(/at most 2592000 seconds/)
  })
})
