import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERROR_STATUS, JOB_FAILURE_CODES } from './codes.js'

describe('the error catalogue', () => {
  it('docs/errors.md lists exactly the codes of ERROR_STATUS, with their statuses', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const table = doc.slice(doc.indexOf('| code | status |'), doc.indexOf('## Failure reasons'))
    const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ])
    expect(Object.fromEntries(rows)).toEqual(ERROR_STATUS)
    expect(rows).toHaveLength(Object.keys(ERROR_STATUS).length)
  })

  it('every status is an HTTP error status', () => {
    for (const status of Object.values(ERROR_STATUS)) expect(status).toBeGreaterThanOrEqual(400)
  })

  it('docs/errors.md explains every job failure code under "Failure reasons"', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const reasons = doc.slice(doc.indexOf('## Failure reasons'))
    for (const code of JOB_FAILURE_CODES) expect(reasons).toContain(`\`${code}\``)
  })
})
