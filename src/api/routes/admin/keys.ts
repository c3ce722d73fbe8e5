import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AuditLog } from '../../../audit/audit-log.js'
import {
  type ApiKeys,
  DEFAULT_ROTATION_GRACE_SECONDS,
  type KeyInfo,
} from '../../../auth/api-keys.js'
import { DEFAULT_SCOPES } from '../../../auth/principal.js'
import { AppError } from '../../../errors/index.js'
import { principalOf } from '../../authenticate.js'
import { NoContent, problems } from '../../schemas.js'
import { audited, iso } from './audited.js'
import {
  ADMIN_ROUTE,
  ADMIN_TAGS,
  CreatedKeyView,
  CreateKeyBody,
  KeyList,
  KeyParams,
  KeysQuery,
  RotateBody,
  RotatedKeyView,
} from './schemas.js'

export interface AdminKeyOptions {
  apiKeys: Pick<ApiKeys, 'create' | 'list' | 'revoke' | 'rotate'>
  audit: AuditLog
}

const keyView = (key: KeyInfo) => ({
  ...key,
  createdAt: iso(key.createdAt),
  revokedAt: key.revokedAt === null ? null : iso(key.revokedAt),
})

const noActiveKey = (id: string) =>
  new AppError('API_KEY_NOT_FOUND', `No active API key ${id} (unknown, revoked or expired)`)

/** /v1/admin/keys: the same key operations as `pixelflow keys`, each change audited. */
export const adminKeyRoutes: FastifyPluginAsyncTypebox<AdminKeyOptions> = async (
  app,
  { apiKeys, audit },
) => {
  app.get(
    '/admin/keys',
    {
      schema: {
        summary: 'API keys (never their secrets), oldest first',
        tags: ADMIN_TAGS,
        querystring: KeysQuery,
        response: { 200: KeyList, ...problems(400) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const items = (await apiKeys.list(request.query.owner)).map(keyView)
      return reply.send({ items })
    },
  )

  app.post(
    '/admin/keys',
    {
      schema: {
        summary: 'Create an API key for an owner (its secret is shown once)',
        tags: ADMIN_TAGS,
        body: CreateKeyBody,
        response: { 201: CreatedKeyView, ...problems(400) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const { ownerId, scopes = [...DEFAULT_SCOPES] } = request.body
      const created = await apiKeys.create(ownerId, scopes)
      await audited(audit, request, 'api-key.create', created.id, { ownerId, scopes })
      return reply.code(201).send({ id: created.id, key: created.key, ownerId, scopes })
    },
  )

  app.post(
    '/admin/keys/:id/rotate',
    {
      schema: {
        summary: 'Issue a new key with the same owner and scopes; the old one works for the grace',
        tags: ADMIN_TAGS,
        params: KeyParams,
        body: RotateBody,
        response: { 200: RotatedKeyView, ...problems(400, 404) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const { id } = request.params
      const graceSeconds = request.body.graceSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS
      const now = Date.now()
      const fresh = await apiKeys.rotate(id, graceSeconds * 1000, now)
      if (!fresh) throw noActiveKey(id)
      await audited(audit, request, 'api-key.rotate', id, { newKeyId: fresh.id, graceSeconds })
      return reply.send({
        id: fresh.id,
        key: fresh.key,
        replaces: id,
        oldKeyExpiresAt: iso(now + graceSeconds * 1000),
      })
    },
  )

  app.delete(
    '/admin/keys/:id',
    {
      schema: {
        summary: 'Revoke a key at once (one in a rotation grace too); the caller’s own key too',
        tags: ADMIN_TAGS,
        params: KeyParams,
        response: { 204: NoContent, ...problems(404) },
      },
      config: ADMIN_ROUTE,
    },
    async (request, reply) => {
      const { id } = request.params
      if (!(await apiKeys.revoke(id))) throw noActiveKey(id)
      // Revoking the key that makes this request is allowed: this answer is its last.
      const self = principalOf(request).keyId === id
      await audited(audit, request, 'api-key.revoke', id, self ? { self } : {})
      return reply.code(204).send()
    },
  )
}
