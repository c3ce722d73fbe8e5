import { afterAll, beforeAll, expect, it } from 'vitest'
import { createUploadTokens } from '../../src/auth/upload-tokens.js'
import { openControlDb, uploadTablesOf } from '../../src/start/control-db.js'
import {
  createUploadTokenService,
  type UploadTokenService,
} from '../../src/uploads/upload-token-service.js'
import {
  createTestDatabases,
  describeWithPostgres,
  type TestDatabases,
} from '../fixtures/postgres.js'

const describePg = describeWithPostgres('upload-tokens.postgres.test.ts')

/** maxUploads on a PostgreSQL control database: claims from a pool of connections at once. */
describePg('upload token uses on PostgreSQL', () => {
  let databases: TestDatabases
  let control: Awaited<ReturnType<typeof openControlDb>>
  let tokens: UploadTokenService
  const signer = createUploadTokens([{ kid: 'k1', secret: 'a-test-secret-of-some-length' }])

  beforeAll(async () => {
    databases = await createTestDatabases('pf_upload_tokens', 1)
    control = await openControlDb(databases.urls[0]!, { poolSize: 10 })
    tokens = createUploadTokenService({
      db: uploadTablesOf(control),
      mint: signer.mint,
      maxUploadBytes: 1_000_000,
      maxTtlSeconds: 600,
    })
  })
  afterAll(async () => {
    await control?.destroy()
    await databases?.drop()
  })

  it('50 concurrent claims on a token of 7 uses: exactly 7 succeed, the rest are refused', async () => {
    const minted = await tokens.mint('alice', { maxUploads: 7 })
    const { upload: grant } = await signer.verify(minted.token)
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => tokens.claim(grant!)))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7)
    const refused = results.filter((r) => r.status === 'rejected')
    expect(refused.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
      Array(43).fill('UPLOAD_TOKEN_EXHAUSTED'),
    )
    // A refund gives exactly one use back.
    await tokens.refund(grant!.tokenId)
    const again = await Promise.allSettled([tokens.claim(grant!), tokens.claim(grant!)])
    expect(again.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
  })

  it('expired tokens rows are swept', async () => {
    const minted = await tokens.mint('bob', { maxUploads: 1, expiresInSeconds: 1 })
    expect(await tokens.sweep(minted.expiresAt + 1)).toBeGreaterThanOrEqual(1)
  })
})
