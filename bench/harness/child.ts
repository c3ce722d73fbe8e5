/**
 * Child processes: every side of every part runs in one of its own, so its heap, libvips state,
 * CPU time and peak RSS are its own. startChild forks with the same tsx loader; a side that runs
 * our code on its hot path starts through ./plain.ts instead, without it. The parent waits for
 * one message at a time; a side answers once, or reports its error, and the parent fails the run.
 *
 * Node built-ins only: the sides import this file, and what it loads would count in their RSS.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** True when `moduleUrl` is the script node was started with (not imported by run-all). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(resolve(process.argv[1])).href
}

/**
 * Runs `file` in a child process (same tsx loader, via fork's inherited execArgv) so each side
 * has its own heap, libvips state and peak RSS. The child answers over IPC.
 */
export function startChild(file: string, env: Record<string, string>): ChildProcess {
  return fork(file, [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

/**
 * The child's next message; an `{ error }` message rejects. The child is killed if it overruns
 * `timeoutMs`, so a stuck run cannot hold the whole bench.
 */
export function nextMessage<T>(child: ChildProcess, timeoutMs: number): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child ${child.pid} gave no answer within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`child ${child.pid} exited (${code}) without an answer`))
    }
    child.once('exit', onExit)
    child.once('message', (message: T | { error: string }) => {
      clearTimeout(timer)
      child.off('exit', onExit)
      if (message && typeof message === 'object' && 'error' in message)
        reject(new Error(message.error))
      else resolvePromise(message as T)
    })
  })
}

/** Sends `message` and waits for the answer; listening first, so a quick answer is not missed. */
export function ask<T>(child: ChildProcess, message: unknown, timeoutMs: number): Promise<T> {
  const answer = nextMessage<T>(child, timeoutMs)
  child.send(message as object)
  return answer
}

/** Kills whatever is still running of `children`: a failed run must not leave a side behind. */
export function killAll(children: Iterable<ChildProcess>): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

export const errorText = (error: unknown) =>
  error instanceof Error ? (error.stack ?? error.message) : String(error)

/** In a child: report `error` to the parent (nextMessage rejects with it) and exit. */
export function failToParent(error: unknown): void {
  process.send!({ error: errorText(error) }, () => process.exit(1))
}

/** In a child: run `work` once, send its result (or its error) to the parent, and exit. */
export function answerParent(work: () => Promise<unknown>): void {
  work().then((result) => process.send!(result, () => process.exit(0)), failToParent)
}
