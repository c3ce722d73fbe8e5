import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  JOB_FAILURE_CODES as CLIENT_JOB_CODES,
  type PixelflowErrorCode,
  SERVER_ERROR_CODES,
} from '../../packages/client/src/index.js'
import { CLIENT_DIR, GENERATED_FILES, generateClientTypes } from '../../scripts/client-types.js'
import { ERROR_STATUS, type ErrorCode, JOB_FAILURE_CODES } from '../../src/errors/codes.js'

/** The client's types come from the server: regenerated here, they must equal the committed ones. */
describe('the typed client follows the server', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixelflow-client-types-'))
    await generateClientTypes(dir)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it.each(GENERATED_FILES)('%s is up to date (else: run npm run client:types)', async (file) => {
    const fresh = await readFile(join(dir, file), 'utf8')
    const committed = await readFile(join(CLIENT_DIR, file), 'utf8').catch(() => '')
    expect(committed === fresh, `packages/client/${file} is stale: run npm run client:types`).toBe(
      true,
    )
  })

  it('knows every error code of the server catalogue (else: run npm run client:types)', () => {
    expect([...SERVER_ERROR_CODES].sort()).toEqual(Object.keys(ERROR_STATUS).sort())
    expect([...CLIENT_JOB_CODES].sort()).toEqual([...JOB_FAILURE_CODES].sort())
    // And at compile time: a server code the client type lacks fails `npm run typecheck` here.
    const serverCode: ErrorCode = 'BAD_REQUEST' as ErrorCode
    const asClient: PixelflowErrorCode = serverCode
    expect(asClient).toBe('BAD_REQUEST')
  })

  it('serves the same document at /openapi.json as the committed one describes', async () => {
    const committed = JSON.parse(await readFile(join(CLIENT_DIR, 'openapi.json'), 'utf8'))
    expect(Object.keys(committed.paths)).toEqual(
      expect.arrayContaining(['/v1/images', '/v1/images/{id}']),
    )
    expect(committed.components.schemas.Problem.properties.code).toBeDefined()
  })
})
