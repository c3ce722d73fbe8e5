import { formatOfExtension, type OutputFormat } from '../domain/formats.js'
import { AppError } from '../errors/index.js'

/**
 * The options of a transform URL (`/t/<signature>/<options>/<id>[.<ext>]`, docs/delivery.md): a
 * comma-separated list of `name:value`. Each option has one canonical spelling, so that two
 * spellings of one request (`width:300,height:200` and `h:200,w:0300`) are one signature, one
 * derived object and one CDN cache entry.
 */
export type Fit = 'cover' | 'contain' | 'inside' | 'outside' | 'fill'

export interface TransformOptions {
  /** A named preset (config); its settings apply under any option given explicitly. */
  preset?: string
  width?: number
  height?: number
  fit?: Fit
  /** Canonical: a compass point (n, ne, …, c), `attention`, `entropy` or `fp:<x>:<y>`. */
  gravity?: string
  dpr?: number
  quality?: number
  /** Absent: negotiated from Accept, like `auto`. */
  format?: OutputFormat
  blur?: number
  sharpen?: number
  /** Six lower-case hex digits, no `#` (a `#` would end the URL's path). */
  background?: string
}

export interface ParsedOptions {
  options: TransformOptions
  /** The canonical option string: what the signature covers and what the derived key records. */
  canonical: string
}

type Field = keyof TransformOptions
type Parser = (value: string) => TransformOptions[Field] | undefined

/** Canonical order and short name of each option, then every other accepted name. */
const FIELDS: [Field, string, string[]][] = [
  ['preset', 'p', ['preset']],
  ['width', 'w', ['width']],
  ['height', 'h', ['height']],
  ['fit', 'fit', ['rt', 'resize']],
  ['gravity', 'g', ['gravity']],
  ['dpr', 'dpr', []],
  ['quality', 'q', ['quality']],
  ['format', 'f', ['format']],
  ['blur', 'blur', ['bl']],
  ['sharpen', 'sharpen', ['sh']],
  ['background', 'bg', ['background']],
]
const FIELD_BY_NAME = new Map(
  FIELDS.flatMap(([field, short, aliases]) => [short, ...aliases].map((n) => [n, field] as const)),
)
const SHORT_NAME = new Map(FIELDS.map(([field, short]) => [field, short]))

const COMPASS: Record<string, string> = {
  n: 'n',
  north: 'n',
  top: 'n',
  ne: 'ne',
  northeast: 'ne',
  e: 'e',
  east: 'e',
  right: 'e',
  se: 'se',
  southeast: 'se',
  s: 's',
  south: 's',
  bottom: 's',
  sw: 'sw',
  southwest: 'sw',
  w: 'w',
  west: 'w',
  left: 'w',
  nw: 'nw',
  northwest: 'nw',
  c: 'c',
  centre: 'c',
  center: 'c',
  ce: 'c',
  attention: 'attention',
  sm: 'attention',
  smart: 'attention',
  entropy: 'entropy',
}
const FITS: readonly Fit[] = ['cover', 'contain', 'inside', 'outside', 'fill']

/** A value that equals the default is dropped from the canonical form. */
const DEFAULTS: Partial<Record<Field, unknown>> = { fit: 'cover', gravity: 'c', dpr: 1 }

const PARSERS: Record<Field, Parser> = {
  preset: (v) => (/^[a-z0-9][a-z0-9_-]{0,31}$/.test(v) ? v : undefined),
  // Sizes are bounded by the limits later (TRANSFORM_TOO_LARGE); here only their spelling.
  width: (v) => integer(v, 1, 1_000_000),
  height: (v) => integer(v, 1, 1_000_000),
  fit: (v) => (FITS.includes(v as Fit) ? v : undefined),
  gravity: gravity,
  dpr: (v) => decimal(v, 1, 100, 2),
  quality: (v) => integer(v, 1, 100),
  format: (v) => (v === 'auto' ? undefined : outputFormat(v)),
  blur: (v) => decimal(v, 0.3, 1000, 1),
  sharpen: (v) => decimal(v, 0.1, 10, 1),
  background: (v) => colour(v),
}

/**
 * Reads the options segment and the URL's extension (`.webp` is `f:webp`; both, disagreeing, is
 * an error). Throws TRANSFORM_INVALID naming the first problem. A preset name is only checked for
 * its spelling here; whether it exists is the caller's (config) question.
 */
export function parseOptions(segment: string, extension?: string): ParsedOptions {
  const options: TransformOptions = {}
  const seen = new Set<Field>()
  if (segment === '' || segment.length > 512) invalid('The options are empty or too long')
  for (const item of segment.split(',')) {
    const at = item.indexOf(':')
    const name = at < 0 ? item : item.slice(0, at)
    const field = FIELD_BY_NAME.get(name.toLowerCase())
    if (!field) invalid(`Unknown transform option '${name}'`)
    if (seen.has(field)) invalid(`The option '${name}' is given twice`)
    seen.add(field)
    const raw = item.slice(at + 1)
    const value = at < 0 ? undefined : PARSERS[field](raw.toLowerCase())
    if (value === undefined && !(field === 'format' && raw.toLowerCase() === 'auto'))
      invalid(`'${item}' is not a valid value for ${SHORT_NAME.get(field)}`)
    if (value !== undefined && value !== DEFAULTS[field]) Object.assign(options, { [field]: value })
  }
  applyExtension(options, seen.has('format'), extension)
  return { options, canonical: canonicalOf(options) }
}

/** The canonical path a transform signature covers: spelling, order and extension do not change it. */
export function transformPath(canonical: string, imageId: string): string {
  return `/t/${canonical}/${imageId}`
}

/**
 * Whether options may be served without a signature (`_`): a preset listed in
 * PIXELFLOW_UNSIGNED_PRESETS, alone or with a format, nothing else.
 */
export function isUnsignedPreset(options: TransformOptions, unsigned: readonly string[]): boolean {
  const { preset, format: _, ...rest } = options
  return preset !== undefined && Object.keys(rest).length === 0 && unsigned.includes(preset)
}

/** The canonical string of options: fixed order, short names, defaults left out. */
export function canonicalOf(options: TransformOptions): string {
  return FIELDS.filter(([field]) => options[field] !== undefined)
    .map(([field, short]) => `${short}:${options[field]}`)
    .join(',')
}

function applyExtension(options: TransformOptions, formatGiven: boolean, extension?: string) {
  if (extension === undefined) return
  const format = outputFormat(extension.toLowerCase())
  if (!format) invalid(`'.${extension}' is not an output format`)
  if (formatGiven && options.format !== format)
    invalid(`The extension '.${extension}' disagrees with the format option`)
  options.format = format
}

function outputFormat(value: string): OutputFormat | undefined {
  const format = formatOfExtension(value)
  return format === 'jpeg' || format === 'png' || format === 'webp' || format === 'avif'
    ? format
    : undefined
}

function integer(value: string, min: number, max: number): number | undefined {
  if (!/^\d{1,7}$/.test(value)) return undefined
  const n = Number(value)
  return n >= min && n <= max ? n : undefined
}

function decimal(value: string, min: number, max: number, places: number): number | undefined {
  if (!/^\d{1,5}(\.\d{1,6})?$/.test(value)) return undefined
  const n = Number(Number(value).toFixed(places))
  return n >= min && n <= max ? n : undefined
}

/** Compass points and smart crops by any common name; `fp:x:y` with x and y in 0–1. */
function gravity(value: string): string | undefined {
  if (value.startsWith('fp:')) {
    const [x, y, ...rest] = value.slice(3).split(':')
    const fx = x === undefined ? undefined : decimal(x, 0, 1, 2)
    const fy = y === undefined ? undefined : decimal(y, 0, 1, 2)
    return fx === undefined || fy === undefined || rest.length > 0 ? undefined : `fp:${fx}:${fy}`
  }
  return COMPASS[value]
}

function colour(value: string): string | undefined {
  const hex = value.replace(/^#/, '')
  if (/^[0-9a-f]{6}$/.test(hex)) return hex
  if (/^[0-9a-f]{3}$/.test(hex)) return [...hex].map((c) => c + c).join('')
  return undefined
}

function invalid(message: string): never {
  throw new AppError('TRANSFORM_INVALID', message)
}
