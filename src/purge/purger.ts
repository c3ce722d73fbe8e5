/**
 * Removes the cached copies of public URLs from whatever caches in front of Pixelflow: nginx's
 * proxy cache on the same host, or a CDN. Variant URLs are immutable, so a purge is only needed
 * when an image is deleted (or erased): without it a cached copy outlives the image.
 */
export interface Purger {
  readonly driver: string
  /**
   * URL paths (no host, no query) whose cached copies must go. A path whose last segment has no
   * '.' is negotiated: every Accept token's copy goes. Resolves once removed (nginx) or handed to
   * the CDN (CloudFront: once the batch holding them was sent). Never throws for a path that was
   * not cached. Throws for a path that is not one (no leading '/', or a query or fragment).
   */
  purge(paths: readonly string[]): Promise<void>
  /** Sends anything still batched. A purge after close is refused. */
  close(): Promise<void>
}

/**
 * The tokens the shipped caches reduce `Accept` to, for a negotiated URL (domain/formats.ts's
 * negotiateFormat picks among the same three, with the same rule).
 */
export const ACCEPT_TOKENS = ['avif', 'webp', 'jpeg'] as const

/** A path whose last segment has no '.': its format is negotiated from Accept. */
export function isNegotiated(path: string): boolean {
  return !path.slice(path.lastIndexOf('/') + 1).includes('.')
}

/** Refuses what is not a URL path: the caches key paths, so a host or query would match nothing. */
export function assertPurgePath(path: string): void {
  if (!path.startsWith('/') || /[?#]/.test(path))
    throw new TypeError(`purge: ${JSON.stringify(path)} is not a URL path (no host, no query)`)
}

/** A purger that was closed refuses further purges with this. */
export function closedError(driver: string): Error {
  return new Error(`${driver} purger: closed`)
}
