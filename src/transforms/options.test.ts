import { describe, expect, it } from 'vitest'
import type { AppError } from '../errors/index.js'
import { parseOptions, transformPath } from './options.js'

const canonical = (segment: string, ext?: string) => parseOptions(segment, ext).canonical

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return (error as AppError).code
  }
  return undefined
}

describe('transform options', () => {
  it.each([
    ['w:300,h:200', 'w:300,h:200'],
    ['h:200,w:300', 'w:300,h:200'],
    ['width:0300,height:200', 'w:300,h:200'],
    ['W:300,HEIGHT:200,fit:cover,g:centre,dpr:1.00', 'w:300,h:200'],
    ['g:top,w:10', 'w:10,g:n'],
    ['g:sm,w:10,h:10', 'w:10,h:10,g:attention'],
    ['g:fp:0.333:0.5,w:10,h:10', 'w:10,h:10,g:fp:0.33:0.5'],
    ['bg:#ABC,w:1', 'w:1,bg:aabbcc'],
    ['bg:A0b1C2,w:1', 'w:1,bg:a0b1c2'],
    ['f:jpg,w:1', 'w:1,f:jpeg'],
    ['f:auto,w:1', 'w:1'],
    ['q:80,dpr:2,blur:1.25,sh:2,rt:inside,w:5', 'w:5,fit:inside,dpr:2,q:80,blur:1.3,sharpen:2'],
    ['p:thumb,f:webp', 'p:thumb,f:webp'],
  ])('%s is spelt canonically as %s', (segment, expected) => {
    expect(canonical(segment)).toBe(expected)
  })

  it('reads the extension as the format; agreeing with f: is fine, disagreeing is not', () => {
    expect(canonical('w:300', 'webp')).toBe('w:300,f:webp')
    expect(canonical('w:300,f:webp', 'webp')).toBe('w:300,f:webp')
    expect(canonical('w:300', 'JPG')).toBe('w:300,f:jpeg')
    expect(codeOf(() => parseOptions('w:300,f:png', 'webp'))).toBe('TRANSFORM_INVALID')
    expect(codeOf(() => parseOptions('w:300,f:auto', 'webp'))).toBe('TRANSFORM_INVALID')
    expect(codeOf(() => parseOptions('w:300', 'gif'))).toBe('TRANSFORM_INVALID')
    expect(codeOf(() => parseOptions('w:300', 'exe'))).toBe('TRANSFORM_INVALID')
  })

  it.each([
    '',
    'w',
    'w:',
    'w:0',
    'w:-5',
    'w:1e3',
    'w:3.5',
    'w:300,w:400',
    'w:300,width:400',
    'zoom:2',
    'fit:stretch',
    'g:middle',
    'g:fp:1.5:0.5',
    'g:fp:0.5',
    'g:fp:0.5:0.5:0.5',
    'q:0',
    'q:101',
    'dpr:0.5',
    'blur:0',
    'bg:red',
    'bg:#abcd',
    'f:gif',
    'p:Thumb!',
    'w:300,,h:200',
    'x'.repeat(600),
  ])('refuses %j with TRANSFORM_INVALID', (segment) => {
    expect(codeOf(() => parseOptions(segment))).toBe('TRANSFORM_INVALID')
  })

  it('builds the path a signature covers from the canonical options alone', () => {
    expect(transformPath(canonical('h:2,w:1', 'png'), 'abc')).toBe('/t/w:1,h:2,f:png/abc')
  })
})
