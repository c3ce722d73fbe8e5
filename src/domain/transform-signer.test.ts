import { describe, expect, it } from 'vitest'
import { createTransformSigner, createUrlSigner } from './signed-urls.js'

const OLD = { kid: 'old', secret: 'old-secret-0123456789' }
const NEW = { kid: 'new', secret: 'new-secret-0123456789' }
const PATH = '/t/w:300,h:200/01abc'

describe('transform signatures', () => {
  it('verifies its own signature and refuses any other path', () => {
    const signer = createTransformSigner([NEW])
    const sig = signer.sign(PATH)
    expect(sig).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(signer.verify(PATH, sig)).toBe(true)
    expect(signer.verify('/t/w:301,h:200/01abc', sig)).toBe(false)
    expect(signer.verify(PATH, `${sig.slice(0, -1)}A`)).toBe(sig.endsWith('A'))
    expect(signer.verify(PATH, '')).toBe(false)
  })

  it('keeps verifying a signature of the previous key while the new one signs (rotation)', () => {
    const before = createTransformSigner([OLD]).sign(PATH)
    const rotated = createTransformSigner([NEW, OLD])
    expect(rotated.verify(PATH, before)).toBe(true)
    expect(rotated.sign(PATH)).not.toBe(before)
    expect(rotated.signAll(PATH)).toEqual([rotated.sign(PATH), before])
    expect(createTransformSigner([NEW]).verify(PATH, before)).toBe(false)
  })

  it('cannot be replayed as a private URL signature, nor the reverse', () => {
    const transforms = createTransformSigner([NEW])
    const urls = createUrlSigner([NEW], 300)
    const signedUrl = new URL(urls.sign(PATH), 'http://x')
    const privateSig = signedUrl.searchParams.get('sig')!
    expect(transforms.verify(PATH, privateSig)).toBe(false)
    expect(transforms.verify(PATH, privateSig.slice(0, 32))).toBe(false)
    const query = { exp: signedUrl.searchParams.get('exp')!, kid: 'new' }
    expect(urls.verify(PATH, { ...query, sig: privateSig })).toBe('valid')
    expect(urls.verify(PATH, { ...query, sig: transforms.sign(PATH) })).toBe('invalid')
  })
})
