// Writes src/domain/bucket.golden.json: owner id → xxHash64 → bucket, pinned bit for bit.
//
//   npx tsx scripts/golden-buckets.ts
//
// The vectors come from the pure-BigInt reference in test/fixtures, never from xxhash-wasm, so
// the file is independent of the production code it checks. Every key is deterministic (a seeded
// PRNG, no crypto randomness): running this again must reproduce the file byte for byte. Only
// regenerate on purpose; a diff in an existing entry means the bucket format changed.
import { writeFileSync } from 'node:fs'
import { prng, uuidV4 } from '../test/fixtures/seeded.js'
import { referenceBucket, xxh64 } from '../test/fixtures/xxh64-reference.js'

const OUTPUT = new URL('../src/domain/bucket.golden.json', import.meta.url)

function integerKeys(): string[] {
  const small = Array.from({ length: 401 }, (_, i) => String(i))
  const negative = Array.from({ length: 30 }, (_, i) => String(-(i + 1)))
  const powers = [31n, 32n, 53n, 63n, 64n].flatMap((p) => [(1n << p) - 1n, 1n << p, (1n << p) + 1n])
  const large = [...powers, -(2n ** 53n - 1n), -(2n ** 63n), 10n ** 18n, 10n ** 20n, 10n ** 30n]
  // Not canonical, but an owner id is a string: these must keep hashing as the bytes they are.
  const odd = ['-0', '007', '0001', '1000000']
  return [...small, ...negative, ...large.map(String), ...odd]
}

function uuidKeys(): string[] {
  const next = prng(0x5eed_0001)
  const uuids = Array.from({ length: 300 }, () => uuidV4(next))
  const edges = ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']
  // Same UUID, other spelling: a different key, so a different bucket is expected and pinned.
  return [...uuids, ...edges, ...uuids.slice(0, 10).map((u) => u.toUpperCase())]
}

const NON_ASCII = [
  'Zoë',
  'José',
  'François',
  'Ångström',
  'Øresund',
  'Straße',
  'İstanbul',
  'ıi',
  'Łódź',
  'Dvořák',
  'Москва',
  'Київ',
  'Αθήνα',
  'Ελληνικά',
  'Tbilisi თბილისი',
  'Հայաստան',
  '東京',
  '北京',
  '日本語',
  'ひらがな',
  'カタカナ',
  '한국어',
  '서울',
  '𠜎𠜱𠝹',
  '中文 owner',
  'नमस्ते',
  'தமிழ்',
  'สวัสดี',
  'ລາວ',
  'ကမ္ဘာ',
  'አማርኛ',
  'ᚠᚢᚦ',
  'שלום',
  'مرحبا',
  'فارسی',
  'user\u200Fשלום',
  'abc\u202Eabc',
  'עברית 123',
  '🙂',
  '😀😃',
  '👍🏽',
  '👨\u200D👩\u200D👧\u200D👦',
  '🇫🇷',
  '🏳\uFE0F\u200D🌈',
  '𝄞',
  '𝕏',
  '🀄',
  'e\u0301',
  'a\u0308\u0304',
  'Z\u0351\u0357\u0346a\u0310\u0352l\u0352g\u0344o',
  'n\u0303',
  '１２３',
  '١٢٣',
  '۱۲۳',
  '½',
  'ﬁ',
  'Ⅻ',
  '℃',
  '™',
  '€100',
  '£',
  '¥',
  '\u00A0',
  '\u200B',
  '\uFEFFbom',
  '\u2028',
  '\uFFFD',
  '\uFFFF',
  '\u{10FFFF}',
  '\u{E0001}',
  '\u0080',
]

/** Same word, two normal forms: different bytes, so different keys (no silent normalisation). */
const NORMAL_FORM_WORDS = [
  'café',
  'Zoë',
  'résumé',
  'Ångström',
  'Việt Nam',
  'naïve',
  '한국어',
  'がぎぐ',
  'Åsa',
]

function normalFormKeys(): string[] {
  return NORMAL_FORM_WORDS.flatMap((word) => [word.normalize('NFC'), word.normalize('NFD')])
}

/** Syllables of several scripts plus a counter, like real names. */
function generatedNameKeys(): string[] {
  const syllables = [
    'ka',
    'ré',
    'zö',
    'ми',
    'ла',
    'κα',
    '東',
    '京',
    'ना',
    'سا',
    'שׁ',
    '서',
    '🙂',
    '𝄞',
  ]
  const next = prng(0x5eed_0002)
  return Array.from({ length: 150 }, (_, i) => {
    const length = 1 + (next() % 4)
    const name = Array.from({ length }, () => syllables[next() % syllables.length]).join('')
    return `${name}${i}`
  })
}

/** Every code-unit length 1..100, ASCII and mixed 1–4-byte, so every xxHash64 tail path runs. */
function lengthKeys(): string[] {
  const ascii = 'owner-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.@+~'
  const mixed = [...'aZ9-é', 'ß', 'Я', 'Ω', '東', '€', '🙂', '𝄞']
  const next = prng(0x5eed_0003)
  const asciiKeys = Array.from({ length: 100 }, (_, i) => ascii.repeat(2).slice(0, i + 1))
  const mixedKeys = Array.from({ length: 100 }, (_, i) =>
    Array.from({ length: i + 1 }, () => mixed[next() % mixed.length]).join(''),
  )
  return [...asciiKeys, ...mixedKeys]
}

function ownerLikeKeys(): string[] {
  const named = [
    'alice',
    'bob',
    'alice@example.com',
    'auth0|5f7c8ec7c33c6c004bbafe82',
    'tenant:acme',
  ]
  const special = [
    '',
    ' ',
    '  ',
    '\t',
    '\n',
    '\r\n',
    '\u0000',
    'a\u0000b',
    '\u007F',
    '"quoted"',
    '\\',
  ]
  const users = Array.from({ length: 100 }, (_, i) => `user-${i}`)
  return [...special, ...named, ...users]
}

/** JSON, but with invisible, combining and control characters escaped so no editor or tool can
 * silently normalise or strip them; visible letters stay literal so reviewers can read keys. */
function jsonString(key: string): string {
  const escapeIt = /[\p{C}\p{M}\p{Z}\u1100-\u11FF]/u
  return [...JSON.stringify(key)]
    .map((ch) => (ch !== ' ' && escapeIt.test(ch) ? escapeCodePoint(ch) : ch))
    .join('')
}

function escapeCodePoint(ch: string): string {
  return Array.from(
    { length: ch.length },
    (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`,
  ).join('')
}

function entryLine(key: string): string {
  const hash = xxh64(new TextEncoder().encode(key)).toString(16).padStart(16, '0')
  return `    {"key":${jsonString(key)},"xxh64":"${hash}","bucket":${referenceBucket(key)}}`
}

function allKeys(): string[] {
  const keys = [
    ...ownerLikeKeys(),
    ...integerKeys(),
    ...uuidKeys(),
    ...NON_ASCII,
    ...normalFormKeys(),
    ...generatedNameKeys(),
    ...lengthKeys(),
  ]
  // UTF-8 of a lone surrogate is undefined (TextEncoder substitutes U+FFFD), so none may appear.
  const lone = keys.find((key) => /\p{Cs}/u.test(key))
  if (lone !== undefined) throw new Error(`Key with a lone surrogate: ${JSON.stringify(lone)}`)
  return [...new Set(keys)]
}

const ABOUT =
  'owner id -> xxHash64 (seed 0) of its UTF-8 bytes -> top 12 bits = bucket (docs/sharding.md). ' +
  'Generated by scripts/golden-buckets.ts from the reference implementation; ' +
  'a changed entry means the bucket format changed.'

const keys = allKeys()
const body = [
  '{',
  `  "about": ${JSON.stringify(ABOUT)},`,
  '  "entries": [',
  keys.map(entryLine).join(',\n'),
  '  ]',
  '}',
  '',
].join('\n')
writeFileSync(OUTPUT, body)
console.log(`wrote ${keys.length} entries to ${OUTPUT.pathname}`)
