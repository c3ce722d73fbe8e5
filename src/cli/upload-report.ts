import { basename } from 'node:path'
import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import Table from 'cli-table3'
import type { CliIo } from './command.js'
import { formatBytes, formatSeconds, tableStyle } from './format.js'

/** One file's outcome: the summary table's row, and an element of `--json`'s `files`. */
export interface FileResult {
  file: string
  id: string | null
  /** The image's status (queued, ready, failed …), or `error` when no image was made. */
  status: string
  bytes: number | null
  ms: number
  /** Uploaded, and with --wait also ready. */
  ok: boolean
  error: { code: string; detail: string } | null
}

/** What `pixelflow upload` shows while it works and when it is done. */
export interface Reporter {
  begin(files: number): void
  start(file: string, bytes: number): void
  progress(file: string, loaded: number): void
  waiting(file: string, id: string): void
  finish(result: FileResult): void
  end(results: FileResult[]): void
}

/**
 * --json: nothing but the JSON report at the end. A terminal: a bar per file being uploaded and an
 * overall one (cli-progress), finished files logged above them. Otherwise (a pipe, a CI log): one
 * plain line per finished file. Both end with the summary table.
 */
export function createReporter(io: CliIo, json: boolean): Reporter {
  if (json) return jsonReporter(io)
  if (io.isTTY && io.stream) return barReporter(io, io.stream)
  return lineReporter(io)
}

function jsonReporter(io: CliIo): Reporter {
  return {
    begin() {},
    start() {},
    progress() {},
    waiting() {},
    finish() {},
    end(results) {
      io.out(`${JSON.stringify({ ok: results.every((r) => r.ok), files: results }, null, 2)}\n`)
    },
  }
}

function lineReporter(io: CliIo): Reporter {
  return {
    begin() {},
    start() {},
    progress() {},
    waiting() {},
    finish(result) {
      io.out(`${describe(result)}\n`)
    },
    end(results) {
      io.out(summary(results, false))
    },
  }
}

function barReporter(io: CliIo, stream: NodeJS.WritableStream): Reporter {
  const bars = new MultiBar(
    {
      stream,
      format: ' {bar} {percentage}% | {name} {amount} {state}',
      barsize: 24,
      // Finished bars are removed and logged as a line; stop() clears what is left.
      clearOnComplete: true,
      // A hidden cursor would stay hidden after Ctrl-C (cli-progress restores it only by catching
      // SIGINT, which would keep the process from exiting).
      hideCursor: false,
      autopadding: true,
    },
    Presets.shades_classic,
  )
  const files = new Map<string, { bar: SingleBar; loaded: number; bytes: number }>()
  // The overall bar counts files (their sizes are known only as each starts), and says the bytes sent.
  const totals = { files: 0, done: 0, loaded: 0 }
  let overall: SingleBar | undefined
  const redrawOverall = () =>
    overall?.update(totals.done, {
      amount: `${formatBytes(totals.loaded)} sent`,
      state: `${files.size} in progress`,
    })
  return {
    begin(count) {
      totals.files = count
      overall = bars.create(Math.max(count, 1), 0, {
        name: `all files (${count})`.padEnd(32),
        amount: '',
        state: '',
      })
    },
    start(file, bytes) {
      const bar = bars.create(Math.max(bytes, 1), 0, {
        name: basename(file).slice(0, 32).padEnd(32),
        amount: `0 B/${formatBytes(bytes)}`,
        state: 'uploading',
      })
      files.set(file, { bar, loaded: 0, bytes })
      redrawOverall()
    },
    progress(file, loaded) {
      const entry = files.get(file)
      if (!entry) return
      totals.loaded += loaded - entry.loaded
      entry.loaded = loaded
      entry.bar.update(loaded, { amount: `${formatBytes(loaded)}/${formatBytes(entry.bytes)}` })
      redrawOverall()
    },
    waiting(file, id) {
      files.get(file)?.bar.update({ state: `processing ${id}` })
    },
    finish(result) {
      const entry = files.get(result.file)
      if (entry) {
        totals.loaded += entry.bytes - entry.loaded
        bars.remove(entry.bar)
        files.delete(result.file)
      }
      totals.done++
      bars.log(`${describe(result)}\n`)
      redrawOverall()
    },
    end(results) {
      bars.update() // flush the logged lines
      bars.stop()
      io.out(summary(results, true))
    },
  }
}

function describe(r: FileResult): string {
  const size = r.bytes === null ? '' : `, ${formatBytes(r.bytes)}`
  if (r.error)
    return `FAILED ${r.file}${r.id ? ` (${r.id})` : ''}: ${r.error.code}: ${r.error.detail}`
  return `ok ${r.file} → ${r.id} ${r.status} (${formatSeconds(r.ms)}${size})`
}

/** The table at the end (cli-table3), colourless when not on a terminal, and a count line. */
export function summary(results: FileResult[], colour: boolean): string {
  const table = new Table({
    head: ['file', 'id', 'status', 'size', 'time', 'error'],
    ...tableStyle(colour),
  })
  for (const r of results)
    table.push([
      r.file,
      r.id ?? '-',
      r.status,
      r.bytes === null ? '-' : formatBytes(r.bytes),
      formatSeconds(r.ms),
      r.error?.code ?? '',
    ])
  const failed = results.filter((r) => !r.ok).length
  return `${table.toString()}\n${results.length - failed} of ${results.length} files succeeded${failed ? `, ${failed} failed` : ''}.\n`
}
