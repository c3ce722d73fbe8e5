import { stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { glob, isDynamicPattern } from 'tinyglobby'
import { EXIT, type Scope, wholeNumber } from './command.js'
import { parseDurationSeconds } from './duration.js'
import {
  connect,
  errorCode,
  errorDetail,
  type PixelflowClient,
  type RemoteOptions,
  withRemote,
} from './remote.js'
import { createReporter, type FileResult, type Reporter } from './upload-report.js'

export interface UploadOptions extends RemoteOptions {
  wait?: boolean
  concurrency: number
  private?: boolean
  json?: boolean
  /** Per file, the upload and the wait together. */
  timeout: number
}

export function registerUpload(program: Command, scope: Scope): void {
  withRemote(
    program
      .command('upload')
      .summary('upload files or globs, with progress and a summary table')
      .description(
        'upload files to a server, a progress bar per file and an overall one on a terminal, a ' +
          'summary table at the end; exit 0 only when every file succeeded (with --wait: became ' +
          'ready), 1 otherwise, 2 for a wrong command line',
      )
      .argument(
        '<files...>',
        'files or globs (quote a glob to let pixelflow expand it: "photos/**/*.jpg")',
      )
      .option('--wait', 'wait until each image is ready (or failed)')
      .option('--concurrency <n>', 'files uploaded at once', wholeNumber(1), 4)
      .option('--private', 'private images (variant URLs are signed)')
      .option('--json', 'print only a JSON report at the end')
      .addOption(
        new Option('--timeout <duration>', 'per file, upload and wait: 90s, 5m, 1h')
          .argParser(timeout)
          .default(300_000, '5m'),
      ),
    scope,
  ).action(
    scope.run(async (patterns: string[], options: UploadOptions) => {
      const files = await expandSources(patterns, process.cwd())
      const client = await connect(options)
      const reporter = createReporter(scope.ctx.io, options.json ?? false)
      const results = await uploadAll(client, files, options, reporter)
      reporter.end(results)
      return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed
    }),
  )
}

/** A source to upload: a file, or a pattern that matched none (reported as a failure). */
export interface Source {
  file: string
  /** Set for a glob that matched no file. */
  unmatched?: true
}

/**
 * Expands quoted globs (tinyglobby; a shell has already expanded unquoted ones), keeps plain paths
 * as given (a missing one fails on its own, the others still upload), drops repeats.
 */
export async function expandSources(patterns: string[], cwd: string): Promise<Source[]> {
  const seen = new Set<string>()
  const sources: Source[] = []
  for (const pattern of patterns) {
    if (!isDynamicPattern(pattern)) {
      if (!seen.has(pattern)) sources.push({ file: pattern })
      seen.add(pattern)
      continue
    }
    // An absolute pattern gives absolute paths, a relative one paths relative to cwd, as typed.
    const found = await glob(pattern, {
      cwd,
      onlyFiles: true,
      expandDirectories: false,
      absolute: isAbsolute(pattern),
    })
    const matches = found.sort()
    if (matches.length === 0) sources.push({ file: pattern, unmatched: true })
    for (const file of matches.filter((f) => !seen.has(f))) {
      seen.add(file)
      sources.push({ file })
    }
  }
  return sources
}

/** At most `concurrency` files at once, in the order given; one file's failure never stops the rest. */
export async function uploadAll(
  client: PixelflowClient,
  sources: Source[],
  options: UploadOptions,
  reporter: Reporter,
): Promise<FileResult[]> {
  reporter.begin(sources.length)
  const results: FileResult[] = new Array(sources.length)
  let next = 0
  // A few lines instead of a pool library: a fixed number of loops pulling the next index.
  const lane = async () => {
    for (let i = next++; i < sources.length; i = next++) {
      results[i] = await uploadOne(client, sources[i] as Source, options, reporter)
      reporter.finish(results[i] as FileResult)
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, sources.length) }, lane))
  return results
}

async function uploadOne(
  client: PixelflowClient,
  source: Source,
  options: UploadOptions,
  reporter: Reporter,
): Promise<FileResult> {
  const started = Date.now()
  const { file } = source
  const result = (fields: Partial<FileResult>): FileResult => ({
    file,
    id: null,
    status: 'error',
    bytes: null,
    ms: Date.now() - started,
    ok: false,
    error: null,
    ...fields,
  })
  if (source.unmatched)
    return result({ error: { code: 'NO_MATCH', detail: `no file matches ${file}` } })
  let bytes: number | null = null
  try {
    const info = await stat(file)
    if (!info.isFile())
      return result({ error: { code: 'NOT_A_FILE', detail: `${file} is not a file` } })
    bytes = info.size
    reporter.start(file, bytes)
    const signal = AbortSignal.timeout(options.timeout)
    const accepted = await client.upload(file, {
      ...(options.private ? { visibility: 'private' as const } : {}),
      onProgress: (p) => reporter.progress(file, p.loaded),
      signal,
    })
    if (!options.wait) return result({ id: accepted.id, status: accepted.status, bytes, ok: true })
    reporter.waiting(file, accepted.id)
    const timeoutMs = Math.max(1, options.timeout - (Date.now() - started))
    const image = await client.waitUntilReady(accepted.id, { timeoutMs, signal })
    const ok = image.status === 'ready'
    return result({
      id: image.id,
      status: image.status,
      bytes,
      ok,
      error: ok ? null : (image.failure ?? { code: 'NOT_READY', detail: `status ${image.status}` }),
    })
  } catch (error) {
    // A failed image (waitUntilReady throws it with its failure code) keeps its id and status.
    const image = (error as { image?: { id: string; status: string } }).image
    return result({
      bytes,
      ...(image ? { id: image.id, status: image.status } : {}),
      error: { code: timedOut(error) ? 'TIMEOUT' : errorCode(error), detail: errorDetail(error) },
    })
  }
}

function timedOut(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === 'TimeoutError'
}

function timeout(text: string): number {
  try {
    const seconds = parseDurationSeconds(text)
    if (seconds < 1) throw new Error('must be at least 1s')
    return seconds * 1000
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}
