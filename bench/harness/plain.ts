/**
 * A side's file as plain ESM, run by `node` without the tsx loader. tsx compiles with esbuild's
 * keepNames, which wraps every function expression in a `__name()` call (an
 * Object.defineProperty) each time it is created: a closure made per request then costs about
 * 270 ns, and the in-process rate limiter's consume took 1.2 µs under tsx against 0.3 µs without
 * it (bench/RESULTS.md, 2026-12-07 afternoon). `npm start` runs tsc's output, which has none of
 * it, and the loader adds ~20 MB of RSS. So a side that runs our code is bundled (its imports and
 * src/; packages stay external, loaded from node_modules) and forked with plain `node`.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

/**
 * Two levels below the root, like src/start/: a bundled `new URL('../../ui/dist', import.meta.url)`
 * (the dashboard's folder) still points where it does from src/.
 */
const OUT_DIR = fileURLToPath(new URL('../.plain/', import.meta.url))
const built = new Map<string, Promise<string>>()
const written: string[] = []
// The bundles are this run's alone (their names carry its pid): removed when it exits normally.
// A run killed by a signal leaves its files in bench/.plain/, which git ignores.
process.once('exit', () => {
  for (const file of written) rmSync(file, { force: true })
})

/** `source` bundled once per run; later calls get the same file. */
function plainBuild(source: string): Promise<string> {
  let file = built.get(source)
  if (!file) {
    const part = basename(dirname(source))
    const outfile = join(OUT_DIR, `${part}-${basename(source, '.ts')}-${process.pid}.mjs`)
    file = mkdir(OUT_DIR, { recursive: true })
      .then(() =>
        build({
          entryPoints: [source],
          outfile,
          bundle: true,
          packages: 'external',
          platform: 'node',
          format: 'esm',
          target: 'node20',
          logLevel: 'warning',
        }),
      )
      .then(() => {
        written.push(outfile)
        return outfile
      })
    built.set(source, file)
  }
  return file
}

/** Like startChild (./child.ts), with `source` bundled and run by plain `node`, without the loader's flags. */
export async function startPlain(
  source: string,
  env: Record<string, string>,
): Promise<ChildProcess> {
  return fork(await plainBuild(source), [], {
    execArgv: [],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}
