/** The environment as loadConfig reads it, and the small parsers every slice of it shares. */
export type Env = Record<string, string | undefined>

/** "a, b,,c" → ['a', 'b', 'c']; unset or blank → undefined (the schema's default applies). */
export function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
}

/** "a:1,b:2" → [['a', '1'], ['b', '2']]; the value may itself contain ':'. */
export function pairs(value: string | undefined): [string, string][] {
  return (list(value) ?? []).map((item) => {
    const at = item.indexOf(':')
    return [item.slice(0, at < 0 ? item.length : at), at < 0 ? '' : item.slice(at + 1)]
  })
}
