const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const

/**
 * An operator's duration: whole seconds (`3600`) or a number with one unit (`45s`, `30m`, `1h`,
 * `2d`). Anything else throws, so a typo can never become NaN, which once stored a rotated key's
 * expiry as empty and kept the old key alive for ever.
 */
export function parseDurationSeconds(text: string, maxSeconds = Number.MAX_SAFE_INTEGER): number {
  const match = /^(\d{1,12})([smhd]?)$/.exec(text.trim())
  if (!match)
    throw new Error(`'${text}' is not a duration (e.g. 3600, 45s, 30m, 1h, 2d: whole numbers only)`)
  const seconds = Number(match[1]) * UNIT_SECONDS[(match[2] || 's') as keyof typeof UNIT_SECONDS]
  if (seconds > maxSeconds) throw new Error(`'${text}' is too long: at most ${maxSeconds} seconds`)
  return seconds
}
