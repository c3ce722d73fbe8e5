import type { PixelflowClient } from '@pixelflow/client'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { EXIT, type Scope } from './command.js'

export const DEFAULT_URL = 'http://127.0.0.1:8080'

export type { Image, PixelflowClient } from '@pixelflow/client'

export interface RemoteOptions {
  url: string
  key?: string
}

/** --url and --key, defaulting to what the entry point read from PIXELFLOW_URL and PIXELFLOW_API_KEY. */
export function withRemote(command: Command, scope: Scope): Command {
  const { url, apiKey } = scope.ctx.remote
  return command
    .addOption(
      new Option('--url <url>', 'the server (env PIXELFLOW_URL)')
        .argParser(serverUrl)
        .default(url ?? DEFAULT_URL),
    )
    .addOption(
      // The default is never shown: it is a secret.
      new Option('--key <api-key>', 'an API key (env PIXELFLOW_API_KEY)').default(
        apiKey,
        apiKey ? 'PIXELFLOW_API_KEY' : undefined,
      ),
    )
}

function serverUrl(text: string): string {
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol))
    throw new InvalidArgumentError('expected an http:// or https:// URL')
  return text
}

/**
 * The typed client for one command. Imported here, on first use, so that the operator commands
 * never load it.
 */
export async function connect(options: RemoteOptions): Promise<PixelflowClient> {
  const { createClient } = await import('@pixelflow/client')
  return createClient({ baseUrl: options.url, ...(options.key ? { apiKey: options.key } : {}) })
}

/** A failure's stable code: the server's or the client's, or the local file system's (ENOENT). */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'ERROR'
}

export function errorDetail(error: unknown): string {
  const detail = (error as { detail?: unknown } | null)?.detail
  if (typeof detail === 'string') return detail
  return error instanceof Error ? error.message : String(error)
}

/** Runs a user command; a failure of the server or the network prints its code and exits 1. */
export async function remote(scope: Scope, body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (error) {
    const status = (error as { status?: unknown }).status
    scope.err(
      `${errorCode(error)}${typeof status === 'number' && status > 0 ? ` (HTTP ${status})` : ''}: ${errorDetail(error)}`,
    )
    if (status === 401) scope.err('Pass an API key with --key or PIXELFLOW_API_KEY.')
    return EXIT.failed
  }
}
