import { type Kysely, sql } from 'kysely'
import type { UploadGrant } from '../auth/principal.js'
import type { MintedToken, MintRequest } from '../auth/upload-tokens.js'
import { AppError } from '../errors/index.js'
import type { UploadTables } from './tables.js'

export interface UploadTokenServiceDeps {
  db: Kysely<UploadTables>
  mint: (request: MintRequest) => Promise<MintedToken>
  /** The server's upload limit: a token may lower it, never raise it. */
  maxUploadBytes: number
  maxTtlSeconds: number
}

export type TokenRequest = Omit<MintRequest, 'ownerId' | 'expiresInSeconds'> & {
  expiresInSeconds?: number | undefined
}

/**
 * Upload tokens: minting within the server's bounds, and the durable use count behind
 * `maxUploads`. The count lives in one row per token and moves by one conditional UPDATE, so
 * concurrent uploads in any number of processes can never take more uses than the token has.
 */
export function createUploadTokenService(deps: UploadTokenServiceDeps) {
  const { db } = deps

  return {
    async mint(ownerId: string, request: TokenRequest): Promise<MintedToken> {
      const expiresInSeconds = request.expiresInSeconds ?? deps.maxTtlSeconds
      if (expiresInSeconds > deps.maxTtlSeconds)
        throw new AppError(
          'BAD_REQUEST',
          `expiresInSeconds may be at most ${deps.maxTtlSeconds} (PIXELFLOW_UPLOAD_TOKEN_MAX_TTL_SECONDS)`,
        )
      if (request.maxBytes !== undefined && request.maxBytes > deps.maxUploadBytes)
        throw new AppError(
          'BAD_REQUEST',
          `maxBytes may be at most the server's upload limit, ${deps.maxUploadBytes}`,
        )
      const minted = await deps.mint({ ...request, ownerId, expiresInSeconds })
      await db
        .insertInto('upload_tokens')
        .values({
          id: minted.tokenId,
          owner_id: ownerId,
          max_uploads: request.maxUploads ?? null,
          used: 0,
          expires_at: minted.expiresAt,
        })
        .execute()
      return minted
    },

    /** Takes one of the token's uploads: UPLOAD_TOKEN_EXHAUSTED when none is left. */
    async claim(grant: UploadGrant): Promise<void> {
      if (grant.maxUploads === undefined) return
      const taken = await db
        .updateTable('upload_tokens')
        .set({ used: sql<number>`used + 1` })
        .where('id', '=', grant.tokenId)
        .where('used', '<', sql<number>`max_uploads`)
        .executeTakeFirst()
      if (Number(taken.numUpdatedRows) !== 1)
        throw new AppError(
          'UPLOAD_TOKEN_EXHAUSTED',
          `This upload token allows ${grant.maxUploads} uploads, all used`,
        )
    },

    /** Gives one use back, for an upload that made no image (refused, or a replay). */
    async refund(tokenId: string): Promise<void> {
      await db
        .updateTable('upload_tokens')
        .set({ used: sql<number>`used - 1` })
        .where('id', '=', tokenId)
        .where('used', '>', 0)
        .execute()
    },

    sweep: (beforeMs: number) => sweepUploadTokens(db, beforeMs),
  }
}

export type UploadTokenService = ReturnType<typeof createUploadTokenService>

/** Rows of tokens expired before `beforeMs`: nobody can use them any more. */
export async function sweepUploadTokens(db: Kysely<UploadTables>, beforeMs: number) {
  const result = await db
    .deleteFrom('upload_tokens')
    .where('expires_at', '<', beforeMs)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
