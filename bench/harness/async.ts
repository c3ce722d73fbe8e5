/** Small waiting helpers shared by the parts' parents and sides. Node built-ins only. */

export { setTimeout as sleep } from 'node:timers/promises'

/** A promise with its resolve and reject at hand, for answers that come from event handlers. */
export function deferred<T>(): {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: Error): void
} {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}

/** `promise`, or an error naming `what` after `ms`: a stuck side fails the run instead of holding it. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>(
    (_, reject) =>
      (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)),
  )
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
