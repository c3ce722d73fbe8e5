/** Relative, '/'-separated segments of letters, digits, '_', '.' and '-'. */
const KEY_PATTERN = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/

/**
 * Throws unless `key` is a relative '/'-separated key with no '.' or '..' segment, so that no
 * driver can be led outside its root (a folder, or a key prefix in a bucket). Returns the key.
 */
export function assertObjectKey(key: string): string {
  if (!KEY_PATTERN.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
    throw new Error(`Invalid object key: ${JSON.stringify(key)}`)
  }
  return key
}
