import type { Kysely } from 'kysely'
import { AUDIT_MIGRATIONS, type AuditTables } from '../audit/tables.js'
import { AUTH_MIGRATIONS, type AuthTables } from '../auth/tables.js'
import { migrate, openDatabase } from '../db/database.js'
import { DIRECTORY_MIGRATIONS, type DirectoryDb } from '../metadata/control-db.js'
import { UPLOAD_MIGRATIONS, type UploadTables } from '../uploads/tables.js'
import { WEBHOOK_MIGRATIONS, type WebhookTables } from '../webhooks/tables.js'

/**
 * The control database holds two modules' tables: auth's (keys, settings) and the metadata
 * directory's. Each module sees only its own; this is the one place that knows both.
 */
export type ControlDb = AuthTables & DirectoryDb & UploadTables & WebhookTables & AuditTables

/** One list ordered by name: the numbers of both modules' migrations form one sequence. */
export const CONTROL_MIGRATIONS = {
  ...AUTH_MIGRATIONS,
  ...DIRECTORY_MIGRATIONS,
  ...UPLOAD_MIGRATIONS,
  ...WEBHOOK_MIGRATIONS,
  ...AUDIT_MIGRATIONS,
}

/** Opens the control database (SQLite path or postgres:// URL) and brings its schema up to date. */
export async function openControlDb(
  url: string,
  options?: Parameters<typeof openDatabase>[1],
): Promise<Kysely<ControlDb>> {
  const control = openDatabase<ControlDb>(url, options)
  await migrate(control as Kysely<unknown>, CONTROL_MIGRATIONS)
  return control
}

/**
 * Kysely's database type is invariant, so a module cannot take a `Kysely<ControlDb>` where it
 * asks for its own tables. These are views of the same connection typed with one module's tables;
 * safe because CONTROL_MIGRATIONS created both modules' tables in it.
 */
export const authTablesOf = (control: Kysely<ControlDb>) => control as unknown as Kysely<AuthTables>
export const directoryTablesOf = (control: Kysely<ControlDb>) =>
  control as unknown as Kysely<DirectoryDb>
export const uploadTablesOf = (control: Kysely<ControlDb>) =>
  control as unknown as Kysely<UploadTables>
export const webhookTablesOf = (control: Kysely<ControlDb>) =>
  control as unknown as Kysely<WebhookTables>
export const auditTablesOf = (control: Kysely<ControlDb>) =>
  control as unknown as Kysely<AuditTables>
