import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { type Readable, Transform } from 'node:stream'
import ipaddr from 'ipaddr.js'
import { AppError } from '../errors/index.js'

/**
 * The one guard for every outbound request to a URL a user gave (webhook endpoints, upload from a
 * URL): resolve the host, refuse anything that is not public unicast unless the operator's
 * allow-list names it, and connect to the very address that was checked (the `lookup` option
 * hands the socket the checked address, so a DNS answer that changes between the check and the
 * connect — DNS rebinding — cannot swap it). Redirects are not followed unless asked, and each hop
 * is checked again. A total timeout and a byte ceiling bound what a hostile server can cost us.
 *
 * Refusals are `URL_FORBIDDEN` (422: the input names a target we will not reach); failures to
 * fetch an allowed target are `URL_FETCH_FAILED` (502: the remote side failed us).
 */

type Address = ipaddr.IPv4 | ipaddr.IPv6

/** What `PIXELFLOW_OUTBOUND_ALLOW` names: address ranges, and host names with an optional port. */
export interface OutboundAllowList {
  readonly ranges: readonly (readonly [Address, number])[]
  readonly hosts: readonly { readonly host: string; readonly port?: number }[]
}

export const EMPTY_ALLOW_LIST: OutboundAllowList = { ranges: [], hosts: [] }

/**
 * Parses a comma-separated allow-list. Entries: a CIDR (`10.0.0.0/8`, `fd00::/8`), an address
 * (`127.0.0.1`, `::1`), or a host with an optional port (`hooks.internal`, `localhost:8080`,
 * `127.0.0.1:9000`, `[::1]:9000`). An address or range allows those addresses whatever name
 * resolves to them; a host entry allows that name (and port, if given) whatever it resolves to.
 */
export function parseAllowList(value: string): OutboundAllowList {
  const ranges: [Address, number][] = []
  const hosts: { host: string; port?: number }[] = []
  for (const raw of value.split(',')) {
    const entry = raw.trim()
    if (entry === '') continue
    if (entry.includes('/')) {
      ranges.push(parseCidr(entry))
      continue
    }
    if (ipaddr.isValid(entry)) {
      const address = ipaddr.process(entry)
      ranges.push([address, address.kind() === 'ipv4' ? 32 : 128])
      continue
    }
    hosts.push(parseHostEntry(entry))
  }
  return { ranges, hosts }
}

function parseCidr(entry: string): [Address, number] {
  try {
    const [address, bits] = ipaddr.parseCIDR(entry)
    // `::ffff:10.0.0.0/104` means the IPv4 range; addresses are compared after the same unwrap.
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
      return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96]
    return [address, bits]
  } catch {
    throw new Error(`PIXELFLOW_OUTBOUND_ALLOW: "${entry}" is not a valid CIDR range`)
  }
}

function parseHostEntry(entry: string): { host: string; port?: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(entry)
  const host = match?.[1] ?? match?.[2]
  if (!match || host === undefined)
    throw new Error(`PIXELFLOW_OUTBOUND_ALLOW: "${entry}" is not a CIDR, an address or host[:port]`)
  const port = match[3] === undefined ? undefined : Number(match[3])
  if (port !== undefined && (port < 1 || port > 65535))
    throw new Error(`PIXELFLOW_OUTBOUND_ALLOW: "${entry}" has an invalid port`)
  return port === undefined ? { host: normalizeHost(host) } : { host: normalizeHost(host), port }
}

function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (ipaddr.isValid(bare)) return ipaddr.process(bare).toString()
  return bare.toLowerCase().replace(/\.$/, '')
}

/**
 * True when an address may be reached without the allow-list: only plain public unicast. IPv4-
 * mapped IPv6 is judged as its IPv4 address; NAT64, 6to4 and Teredo forms, which embed an IPv4
 * address the gateway would reach, are refused along with every other special range.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  return ipaddr.process(address).range() === 'unicast'
}

function inAllowedRange(address: Address, list: OutboundAllowList): boolean {
  return list.ranges.some(
    ([range, bits]) => range.kind() === address.kind() && address.match(range, bits),
  )
}

function hostAllowed(host: string, port: number, list: OutboundAllowList): boolean {
  return list.hosts.some((entry) => entry.host === host && (entry.port ?? port) === port)
}

export interface CheckedTarget {
  readonly url: URL
  /** The address the connection must go to, already checked. */
  readonly address: string
  readonly family: 4 | 6
}

/**
 * Parses and resolves a URL and checks every address it resolves to (one forbidden answer refuses
 * the whole name, so a round-robin of one public and one private address cannot slip through).
 */
export async function checkUrl(rawUrl: string, allow: OutboundAllowList): Promise<CheckedTarget> {
  const url = parseHttpUrl(rawUrl)
  const host = normalizeHost(url.hostname)
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
  const byName = hostAllowed(host, port, allow)
  const addresses = ipaddr.isValid(host) ? [host] : await resolve(host)
  for (const candidate of addresses) {
    const address = ipaddr.process(candidate)
    if (byName || address.range() === 'unicast' || inAllowedRange(address, allow)) continue
    throw new AppError(
      'URL_FORBIDDEN',
      `${url.hostname} resolves to ${address.toString()} (${address.range()}), which is not a public address; an operator can allow it with PIXELFLOW_OUTBOUND_ALLOW`,
    )
  }
  const chosen = ipaddr.process(addresses[0] as string)
  return { url, address: chosen.toString(), family: chosen.kind() === 'ipv4' ? 4 : 6 }
}

function parseHttpUrl(rawUrl: string): URL {
  let url: URL
  try {
    url = new URL(rawUrl)
  } catch {
    throw new AppError('URL_FORBIDDEN', 'The URL cannot be parsed')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AppError('URL_FORBIDDEN', `Only http and https URLs are allowed, not ${url.protocol}`)
  return url
}

async function resolve(host: string): Promise<string[]> {
  try {
    const answers = await dnsLookup(host, { all: true, verbatim: true })
    if (answers.length === 0) throw new Error('no addresses')
    return answers.map((answer) => answer.address)
  } catch (error) {
    throw new AppError('URL_FETCH_FAILED', `The host ${host} does not resolve`, { cause: error })
  }
}

export interface GuardedRequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** Covers everything: resolving, connecting, every redirect hop and reading the whole body. */
  timeoutMs: number
  /** The body may not be longer; a longer one fails the body stream with URL_FETCH_FAILED. */
  maxResponseBytes: number
  allow: OutboundAllowList
  /** 0 (the default): a 3xx is returned as it is. Up to 3: each hop is checked again. */
  maxRedirects?: number
}

export interface GuardedResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** Ends within the timeout and the byte ceiling, or fails with URL_FETCH_FAILED. */
  body: Readable
  /** The URL that answered (differs from the one asked for after redirects). */
  url: string
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 3

/** One outbound request to an untrusted URL; see the module comment for what it guarantees. */
export async function guardedRequest(
  rawUrl: string,
  options: GuardedRequestOptions,
): Promise<GuardedResponse> {
  const deadline = new AbortController()
  const timer = setTimeout(
    () =>
      deadline.abort(
        new AppError('URL_FETCH_FAILED', `No complete answer within ${options.timeoutMs} ms`),
      ),
    options.timeoutMs,
  )
  try {
    const response = await followRedirects(rawUrl, options, deadline.signal)
    return { ...response, body: limitBody(response, options, deadline.signal, timer) }
  } catch (error) {
    clearTimeout(timer)
    throw deadline.signal.aborted ? deadline.signal.reason : error
  }
}

async function followRedirects(
  rawUrl: string,
  options: GuardedRequestOptions,
  signal: AbortSignal,
): Promise<GuardedResponse> {
  const maxRedirects = Math.min(options.maxRedirects ?? 0, MAX_REDIRECTS)
  let url = rawUrl
  let method = options.method ?? 'GET'
  let body = options.body
  for (let hop = 0; ; hop++) {
    const target = await untilAborted(checkUrl(url, options.allow), signal)
    const response = await send(target, { ...options, method, body }, signal)
    const location = response.headers.location
    if (
      !REDIRECT_STATUSES.has(response.status) ||
      typeof location !== 'string' ||
      maxRedirects === 0
    )
      return response
    response.body.resume()
    if (hop >= maxRedirects)
      throw new AppError('URL_FETCH_FAILED', `More than ${maxRedirects} redirects`)
    url = new URL(location, target.url).toString()
    // 303, and 301/302 after a POST, turn into a GET without a body, as browsers do.
    if (response.status === 303 || (response.status !== 307 && response.status !== 308)) {
      if (method !== 'GET' && method !== 'HEAD') method = 'GET'
      body = undefined
    }
  }
}

/** A slow DNS answer must not outlive the deadline either. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolvePromise, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolvePromise, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function send(
  target: CheckedTarget,
  options: GuardedRequestOptions & { method: string },
  signal: AbortSignal,
): Promise<GuardedResponse> {
  // Hands the socket the checked address whatever the name resolves to now (no second lookup).
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }
  const client = target.url.protocol === 'https:' ? https : http
  return new Promise((resolvePromise, reject) => {
    const request = client.request(
      target.url,
      {
        method: options.method,
        headers: options.headers,
        lookup,
        // A fresh connection each time: a pooled socket would skip the check above.
        agent: false,
        signal,
      },
      (response) =>
        resolvePromise({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: response,
          url: target.url.toString(),
        }),
    )
    request.on('error', (error) =>
      reject(
        signal.aborted
          ? signal.reason
          : new AppError(
              'URL_FETCH_FAILED',
              `Request to ${target.url.host} failed: ${error.message}`,
              {
                cause: error,
              },
            ),
      ),
    )
    request.end(options.body)
  })
}

/** Counts the body against the ceiling and keeps the deadline running until it ends. */
function limitBody(
  response: GuardedResponse,
  options: GuardedRequestOptions,
  signal: AbortSignal,
  timer: NodeJS.Timeout,
): Readable {
  const source = response.body
  // Bytes are counted as they come; a declared Content-Length is not trusted either way, and a
  // caller that lets one byte past its own limit through (to refuse it in its own words) sees the
  // same stream whether or not the server declared its length.
  let seen = 0
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > options.maxResponseBytes) callback(tooLarge(options.maxResponseBytes))
      else callback(null, chunk)
    },
  })
  const onAbort = () => limited.destroy(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  // However the body ends (read to the end, failed, or dropped by the reader), free the socket.
  limited.once('close', () => {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
    source.destroy()
  })
  source.once('error', (error) =>
    limited.destroy(
      signal.aborted
        ? signal.reason
        : new AppError('URL_FETCH_FAILED', `The answer was cut off: ${error.message}`, {
            cause: error,
          }),
    ),
  )
  source.pipe(limited)
  return limited
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('URL_FETCH_FAILED', `The answer is larger than ${maxBytes} bytes`)
}

/** Reads a guarded body to the end (small answers: a webhook receiver's reply, say). */
export async function readBody(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
