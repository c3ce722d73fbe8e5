import { describe, expect, it } from 'vitest'
import { loadConfig } from '../config/load.js'
import { PRESET_VERSION, presetVersion } from './preset-version.js'

const processing = loadConfig({}).processing
const thumb = { name: 'thumb', width: 320 }

describe('presetVersion', () => {
  it('is 8 hex digits, the same for the same settings', () => {
    const v = presetVersion(thumb, 'webp', processing)
    expect(v).toMatch(PRESET_VERSION)
    expect(presetVersion({ ...thumb }, 'webp', { ...processing })).toBe(v)
  })

  it('changes with what changes the bytes: width, watermark setting, the mark, the quality', () => {
    const v = presetVersion(thumb, 'webp', processing)
    const mark = { text: '©', position: 'southeast' as const, opacity: 0.5, minWidth: 1024 }
    const others = [
      presetVersion({ ...thumb, width: 321 }, 'webp', processing),
      presetVersion({ ...thumb, watermark: 'on' }, 'webp', processing),
      presetVersion(thumb, 'webp', { ...processing, watermark: mark }),
      presetVersion(thumb, 'webp', { ...processing, quality: { ...processing.quality, webp: 70 } }),
    ]
    for (const other of others) expect(other).not.toBe(v)
    expect(new Set(others).size).toBe(others.length)
  })

  it("ignores another format's quality, and the mark on a preset that turns it off", () => {
    const jpegQuality = { ...processing, quality: { ...processing.quality, jpeg: 50 } }
    expect(presetVersion(thumb, 'webp', jpegQuality)).toBe(presetVersion(thumb, 'webp', processing))
    const off = { ...thumb, watermark: 'off' as const }
    const mark = { text: '©', position: 'southeast' as const, opacity: 0.5, minWidth: 1 }
    expect(presetVersion(off, 'webp', { ...processing, watermark: mark })).toBe(
      presetVersion(off, 'webp', processing),
    )
  })
})
