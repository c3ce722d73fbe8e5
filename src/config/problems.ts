import { isIP } from 'node:net'
import { validateRangeSplits } from '../domain/owner-strategy.js'
import { parseAllowList } from '../lib/ssrf.js'
import type { Config } from './schema.js'

/**
 * The checks the schema cannot express: across fields, or on a value's meaning. loadConfig runs
 * them all on the converted config and reports every problem at once.
 */
export function crossFieldProblems(config: Config): string[] {
  return [
    ...duplicateNames(config),
    ...rangeProblems(config),
    ...jwtProblems(config),
    ...httpProblems(config),
    ...outboundProblems(config),
  ]
}

/**
 * Value.Convert reads numbers with parseInt, so '80.5' would become 80 and '5e7' would become 5.
 * Every string that became a number must be exactly that number, or it is reported.
 */
export function lossyNumbers(raw: unknown, converted: unknown, path: string): string[] {
  if (typeof raw === 'string' && typeof converted === 'number') {
    return Number(raw.trim()) === converted ? [] : [`${path}: '${raw}' is not a plain number`]
  }
  if (!raw || typeof raw !== 'object' || !converted || typeof converted !== 'object') return []
  return Object.entries(raw).flatMap(([key, value]) =>
    lossyNumbers(value, (converted as Record<string, unknown>)[key], `${path}/${key}`),
  )
}

/** The range strategy needs ordered split points; other strategies must not be given any. */
function rangeProblems(config: Config): string[] {
  const { strategy, rangeSplits } = config.metadata ?? {}
  if (strategy !== 'range')
    return rangeSplits?.length
      ? ['/metadata/rangeSplits: PIXELFLOW_SHARD_RANGES needs PIXELFLOW_SHARD_STRATEGY=range']
      : []
  if (!rangeSplits?.length)
    return [
      '/metadata/rangeSplits: the range strategy needs PIXELFLOW_SHARD_RANGES (ascending split points)',
    ]
  try {
    validateRangeSplits(rangeSplits)
    return []
  } catch (error) {
    return [`/metadata/rangeSplits: ${(error as Error).message}`]
  }
}

/** JWTs on without an audience would accept a token minted for any other service: say so plainly. */
function jwtProblems(config: Config): string[] {
  const jwt = config.auth?.jwt
  if (!jwt || jwt.audience) return []
  return [
    '/auth/jwt/audience: PIXELFLOW_JWT_AUDIENCE is required when PIXELFLOW_JWT_SECRET or PIXELFLOW_JWT_JWKS_URL is set (the aud claim this service accepts)',
  ]
}

/**
 * A typo in the outbound allow-list must stop the start, not silently allow or refuse; a webhook
 * lease shorter than an attempt's timeout would let a second relay send the same attempt.
 */
function outboundProblems(config: Config): string[] {
  const problems: string[] = []
  try {
    parseAllowList((config.outbound?.allow ?? []).join(','))
  } catch (error) {
    problems.push(`/outbound/allow: ${(error as Error).message}`)
  }
  const webhooks = config.webhooks
  if (webhooks && webhooks.leaseMs <= webhooks.timeoutMs)
    problems.push(
      '/webhooks/leaseMs: PIXELFLOW_WEBHOOK_LEASE_MS must be longer than PIXELFLOW_WEBHOOK_TIMEOUT_MS',
    )
  return problems
}

/** Variant object keys are built from preset names and formats, so each must be unique. */
function duplicateNames(config: Config): string[] {
  const repeated = (items: string[]) => items.filter((item, i) => items.indexOf(item) !== i)
  const presets = repeated(config.processing?.presets?.map((p) => p.name) ?? [])
  const formats = repeated([...(config.processing?.formats ?? [])])
  return [
    ...presets.map((name) => `/processing/presets: preset '${name}' is defined twice`),
    ...formats.map((name) => `/processing/formats: format '${name}' is listed twice`),
  ]
}

/** Names proxy-addr knows besides addresses and CIDRs. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

function httpProblems(config: Config): string[] {
  const problems: string[] = []
  const trusted = config.http?.trustProxy
  if (Array.isArray(trusted))
    for (const entry of trusted)
      if (!PROXY_RANGE_NAMES.has(entry) && !isAddressOrCidr(entry))
        problems.push(`/http/trustProxy: '${entry}' is not an IP address, a CIDR or a hop count`)
  const { headersTimeoutMs, requestTimeoutMs } = config.http ?? {}
  // Node refuses a server whose head may take longer than the whole request.
  if (headersTimeoutMs > requestTimeoutMs)
    problems.push('/http/headersTimeoutMs: must not exceed PIXELFLOW_HTTP_REQUEST_TIMEOUT_MS')
  if (config.metrics?.port !== undefined && config.metrics.port === config.server?.port)
    problems.push('/metrics/port: PIXELFLOW_METRICS_PORT must differ from PIXELFLOW_PORT')
  return problems
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  if (bits === undefined) return true
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}
