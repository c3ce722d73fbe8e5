import type { FastifyRequest } from 'fastify'
import type { AuditAction, AuditLog } from '../../../audit/audit-log.js'
import { principalOf } from '../../authenticate.js'

/**
 * Records an admin action that succeeded, with the request's principal and id. Called after the
 * action and awaited before the answer: a failed action throws first and leaves no row, and a
 * row that cannot be written fails the request (500) rather than leave the action unrecorded.
 */
export async function audited(
  audit: AuditLog,
  request: FastifyRequest,
  action: AuditAction,
  target: string,
  detail: Record<string, unknown> = {},
): Promise<void> {
  const { ownerId, keyId, via } = principalOf(request)
  await audit.record({
    actor: { ownerId, ...(keyId ? { keyId } : {}), via },
    action,
    target,
    detail,
    requestId: request.id,
  })
}

export const iso = (ms: number) => new Date(ms).toISOString()
