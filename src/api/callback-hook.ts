import { AppError } from '../errors/index.js'

/** Fastify's callback for a hook that is not async: an Error refuses the request, nothing goes on. */
export type HookDone = (error?: Error) => void

/**
 * Ends a callback hook when `work` settles: with the Error it resolves to (a refusal), or goes on
 * whatever else it resolves to. A rejection that is not an Error (undefined, say) is refused as
 * INTERNAL: handed to `done` as it is, it would let the request through, where Fastify refuses an
 * async hook's.
 */
export function settleHook(work: Promise<unknown>, done: HookDone): void {
  work.then(
    (outcome) => done(outcome instanceof Error ? outcome : undefined),
    (error: unknown) =>
      done(
        error instanceof Error
          ? error
          : new AppError('INTERNAL', `A hook failed: ${String(error)}`),
      ),
  )
}
